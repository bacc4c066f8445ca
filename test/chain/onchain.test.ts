import { decodeOutputs } from '../../src/bundle/decode.ts';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BrowserProvider, Contract, type Signer, solidityPackedKeccak256 } from 'ethers';
import * as snarkjs from 'snarkjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  compileContracts,
  decodeRevert,
  type ContractSet,
  deployContracts,
  type Deployment,
  encodeCalls,
  proofAbi,
  serveDevChain,
  solidityProof,
  startDevChain,
  verifierSource,
} from '../../src/chain/index.ts';
import { bundleModel, compileModel, proveModel, setupModel } from '../../src/pipeline/index.ts';
import type { ProofBundle } from '../../src/bundle/format.ts';
import { packageDir } from '../../src/prover/tool-versions.ts';
import { BASE_FIELD_ORDER, FIELD_ORDER } from '../../src/fixed/field.ts';
import { checkProof } from '../../src/verifier/verify-bundle.ts';
import { sha256Text } from '../../src/core/hash.ts';
import type { VerificationKey } from 'snarkjs';
import type { Groth16Proof } from 'snarkjs';
import { cli } from '../helpers/cli.ts';
import { LOAN_APPLICANT, LOAN_MODEL } from '../helpers/paths.ts';
import { TEST_BLINDING } from '../private/blinding.ts';

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
const TWO_256 = 1n << 256n;

describe('on-chain verification on an in-process EVM (EDR)', () => {
  let bundle: ProofBundle;
  let second: ProofBundle;
  let otherModel: ProofBundle;
  let vkey: VerificationKey;
  let zkey: string;
  let set: ContractSet;
  let signer: Signer;
  let provider: BrowserProvider;
  let deployment: Deployment;
  let verifier: Contract;
  let registry: Contract;
  const n = () => bundle.publicSignals.length;

  beforeAll(async () => {
    const applicant = JSON.parse(await readFile(LOAN_APPLICANT, 'utf8'));
    const m = await compileModel(LOAN_MODEL, { fidelity: false });
    const setup = await setupModel(m);
    vkey = setup.vkey;
    zkey = setup.zkey;
    bundle = (await proveModel(m, setup, applicant, { nonce: 1001n })).bundle;
    second = (await proveModel(m, setup, { ...applicant, income: applicant.income + 5 }, { nonce: 2002n })).bundle;
    // Another model with the same number of public signals (same network, other scale).
    const m2 = await compileModel(LOAN_MODEL, { fidelity: false, settings: { scaleBits: 9 } });
    otherModel = (await proveModel(m2, await setupModel(m2), applicant, { nonce: 3003n })).bundle;
    expect(otherModel.publicSignals.length).toBe(bundle.publicSignals.length);

    set = await compileContracts(bundleModel(m), vkey);
    const chain = await startDevChain();
    provider = new BrowserProvider(chain.provider);
    signer = await provider.getSigner(0);
    deployment = await deployContracts(signer, set);
    verifier = new Contract(deployment.verifier.address, set.verifier.abi as never, provider);
    registry = new Contract(deployment.registry.address, set.registry.abi as never, signer);
  });

  /** The EVM's answer for arbitrary 256-bit words. */
  async function evmVerifies(proof: Groth16Proof, signals: (string | bigint)[]): Promise<boolean> {
    const p = solidityProof(proof, signals);
    const out = await provider.call({ to: deployment.verifier.address, data: encodeCalls(p).verifyProof });
    return (proofAbi(signals.length).decodeFunctionResult('verifyProof', out) as unknown as [boolean])[0];
  }

  const jsVerifies = async (proof: Groth16Proof, signals: (string | bigint)[]) =>
    (await checkProof(bundle.model, proof, signals.map(String), vkey, { sha256: sha256Text })).valid;

  it("exports snarkjs's own verifier for the model's zkey, compiled with the pinned solc", async () => {
    const template = await readFile(path.join(packageDir('snarkjs')!, 'templates', 'verifier_groth16.sol.ejs'), 'utf8');
    const fromZkey = await snarkjs.zKey.exportSolidityVerifier(zkey, { groth16: template });
    expect(verifierSource(vkey)).toBe(fromZkey);
    expect(set.compiler.version).toMatch(/^0\.8\.37\+/);
    expect(set.verifier.bytecode).toMatch(/^0x[0-9a-f]{100,}$/);
    expect(await provider.getCode(deployment.verifier.address)).not.toBe('0x');
  });

  it('accepts the good proof, and rejects each tampered public signal and each signal moved into [r, q)', async () => {
    expect(await verifier.verifyProof(...Object.values(solidityProof(bundle.proof, bundle.publicSignals)))).toBe(true);
    for (let i = 0; i < n(); i++) {
      const s = bundle.publicSignals.map(BigInt);
      s[i] = (s[i] + 1n) % FIELD_ORDER;
      expect(await evmVerifies(bundle.proof, s), `signal ${i} + 1`).toBe(false);
      const t = bundle.publicSignals.map(BigInt);
      t[i] = FIELD_ORDER + (t[i] % (BASE_FIELD_ORDER - FIELD_ORDER));
      expect(t[i] >= FIELD_ORDER && t[i] < BASE_FIELD_ORDER).toBe(true);
      expect(await evmVerifies(bundle.proof, t), `signal ${i} in [r, q)`).toBe(false);
    }
    // The same signal reduced mod r is the valid one: the check is on the encoding.
    expect(await evmVerifies(bundle.proof, bundle.publicSignals)).toBe(true);
  });

  it('agrees with the JS verifier on 260 mutated proofs and public signals', async () => {
    let seed = 0x2545f491n;
    const rand = (bits: number): bigint => {
      let v = 0n;
      for (let i = 0; i < Math.ceil(bits / 32); i++) {
        seed = (seed * 6364136223846793005n + 1442695040888963407n) % (1n << 64n);
        v = (v << 32n) | (seed >> 32n);
      }
      return v % (1n << BigInt(bits));
    };
    const pick = (k: number) => Number(rand(16)) % k;
    type Case = { proof: Groth16Proof; signals: bigint[]; what: string };
    const coordRefs = (p: Groth16Proof): [string[], number, string][] => {
      const b = p.pi_b as unknown as string[][];
      return [
        [p.pi_a as string[], 0, 'pA.x'],
        [p.pi_a as string[], 1, 'pA.y'],
        [b[0], 0, 'pB.x0'],
        [b[0], 1, 'pB.x1'],
        [b[1], 0, 'pB.y0'],
        [b[1], 1, 'pB.y1'],
        [p.pi_c as string[], 0, 'pC.x'],
        [p.pi_c as string[], 1, 'pC.y'],
      ];
    };
    const mutate = (c: Case): void => {
      const i = pick(c.signals.length);
      switch (pick(11)) {
        case 0:
          c.signals[i] = rand(256);
          c.what += ` s${i}=rand256`;
          break;
        case 1:
          c.signals[i] = rand(256) % FIELD_ORDER;
          c.what += ` s${i}=rand<r`;
          break;
        case 2:
          c.signals[i] = (c.signals[i] + BigInt(pick(5)) + 1n) % FIELD_ORDER;
          c.what += ` s${i}+d`;
          break;
        case 3:
          c.signals[i] = c.signals[i] + FIELD_ORDER < TWO_256 ? c.signals[i] + FIELD_ORDER : FIELD_ORDER;
          c.what += ` s${i}+r`;
          break;
        case 4: {
          const [arr, k, name] = coordRefs(c.proof)[pick(8)];
          const v = BigInt(arr[k]);
          const choice = pick(5);
          const next = [(v + 1n) % BASE_FIELD_ORDER, (v + BASE_FIELD_ORDER - 1n) % BASE_FIELD_ORDER, rand(256) % BASE_FIELD_ORDER, v + BASE_FIELD_ORDER, 0n][
            choice
          ];
          arr[k] = next.toString();
          c.what += ` ${name}#${choice}`;
          break;
        }
        case 5:
          (c.proof.pi_a as string[])[1] = ((BASE_FIELD_ORDER - BigInt(c.proof.pi_a[1])) % BASE_FIELD_ORDER).toString();
          c.what += ' -pA';
          break;
        case 6:
          c.proof.pi_a = clone(c.proof.pi_c);
          c.what += ' pA=pC';
          break;
        case 7: {
          const b = c.proof.pi_b as unknown as string[][];
          b[pick(2)].reverse();
          c.what += ' pB-swap';
          break;
        }
        case 8:
          c.proof.pi_a = ['0', '0', '1'];
          c.what += ' pA=0';
          break;
        case 9: {
          // a valid proof of another statement, with this statement's signals
          c.proof = clone(second.proof);
          c.what += ' other-proof';
          break;
        }
        default:
          c.signals = c.signals.slice();
          c.signals[i] = BigInt(second.publicSignals[i]);
          c.what += ` s${i}=second`;
      }
    };
    const cases: Case[] = [];
    for (let k = 0; k < 260; k++) {
      const base = k % 2 ? second : bundle;
      const c: Case = { proof: clone(base.proof), signals: base.publicSignals.map(BigInt), what: k % 2 ? 'second' : 'first' };
      if (k % 20 !== 0) {
        mutate(c);
        if (pick(4) === 0) mutate(c);
      }
      cases.push(c);
    }
    const disagreements: string[] = [];
    let accepted = 0;
    for (const c of cases) {
      const [js, evm] = [await jsVerifies(c.proof, c.signals), await evmVerifies(c.proof, c.signals)];
      if (js !== evm) disagreements.push(`${c.what}: js ${js}, evm ${evm}`);
      if (evm) accepted++;
    }
    expect(disagreements).toEqual([]);
    // Unmutated cases (and mutations that change nothing) verify; most mutations do not.
    expect(accepted).toBeGreaterThanOrEqual(13);
    expect(accepted).toBeLessThan(60);
  });

  it('registry: attests once with an event, refuses a replayed nonce, another model and a bad proof', async () => {
    const p = solidityProof(bundle.proof, bundle.publicSignals);
    const tx = await registry.attest(p.pA, p.pB, p.pC, p.pubSignals);
    const receipt = await tx.wait();
    const ev = receipt.logs
      .map((l: { topics: string[]; data: string }) => registry.interface.parseLog(l))
      .find((l: { name: string } | null) => l?.name === 'Attested');
    expect(ev.args.nonce).toBe(1001n);
    expect(ev.args.inputCommitment.toString()).toBe(bundle.publicSignals[1]);
    expect(ev.args.modelCommitment.toString()).toBe(bundle.model.commitment);
    expect(ev.args.attester).toBe(await signer.getAddress());
    expect(ev.args.outputs.map(String)).toEqual(bundle.publicSignals.slice(2, -1));
    const rec = await registry.getAttestation(1001n);
    expect(rec.inputCommitment.toString()).toBe(bundle.publicSignals[1]);
    expect(rec.outputs.map(String)).toEqual(bundle.publicSignals.slice(2, -1));
    expect(await registry.isAttested(1001n)).toBe(true);
    expect(await registry.attestationCount()).toBe(1n);
    console.log(`gas: verifier deploy ${deployment.verifier.gasUsed}, registry deploy ${deployment.registry.gasUsed}, attest ${receipt.gasUsed}`);

    const revertName = async (b: ProofBundle, signals = b.publicSignals) => {
      const q = solidityProof(b.proof, signals);
      const err = await registry.attest.staticCall(q.pA, q.pB, q.pC, q.pubSignals).then(
        () => null,
        (e: unknown) => e ?? 'no error',
      );
      return err ? (decodeRevert(registry.interface, err)?.name ?? `unknown revert: ${String(err)}`) : 'no revert';
    };
    expect(await revertName(bundle)).toBe('NonceUsed');
    expect(await revertName(otherModel)).toBe('WrongModel');
    const tampered = second.publicSignals.slice();
    tampered[2] = ((BigInt(tampered[2]) + 1n) % FIELD_ORDER).toString();
    expect(await revertName(second, tampered)).toBe('InvalidProof');
    const missing = await registry.getAttestation(2002n).catch((e: unknown) => e);
    expect(decodeRevert(registry.interface, missing)?.name).toBe('UnknownNonce');
    const q = solidityProof(second.proof, second.publicSignals);
    await (await registry.attest(q.pA, q.pB, q.pC, q.pubSignals)).wait();
    expect(await registry.attestationCount()).toBe(2n);
  });

  it('registry of a public-input model records keccak256 of the packed public features', async () => {
    const applicant = JSON.parse(await readFile(LOAN_APPLICANT, 'utf8'));
    const m = await compileModel(LOAN_MODEL, { fidelity: false, publicInput: true });
    const setup = await setupModel(m);
    const b = (await proveModel(m, setup, applicant, { nonce: 4004n })).bundle;
    const s = await compileContracts(bundleModel(m), setup.vkey);
    const d = await deployContracts(signer, s);
    const reg = new Contract(d.registry.address, s.registry.abi as never, signer);
    const p = solidityProof(b.proof, b.publicSignals);
    await (await reg.attest(p.pA, p.pB, p.pC, p.pubSignals)).wait();
    expect(b.signalNames).toEqual(['modelCommitment', 'packedFeatures[0]', 'packedOutputs[0]', 'nonce']);
    const packedFeatures = [BigInt(b.publicSignals[1])];
    const rec = await reg.getAttestation(4004n);
    expect(rec.inputCommitment).toBe(BigInt(solidityPackedKeccak256(['uint256'], packedFeatures)));
    expect(rec.outputs.map(String)).toEqual(b.publicSignals.slice(2, -1));
  });

  it("registry of a private model holds its parameter commitment from deployment, attests its proofs and refuses the public model's", async () => {
    const applicant = JSON.parse(await readFile(LOAN_APPLICANT, 'utf8'));
    const m = await compileModel(LOAN_MODEL, { fidelity: false, visibility: 'private', blinding: TEST_BLINDING });
    const setup = await setupModel(m);
    const b = (await proveModel(m, setup, applicant, { nonce: 5005n })).bundle;
    const s = await compileContracts(bundleModel(m), setup.vkey);
    const d = await deployContracts(signer, s);
    const reg = new Contract(d.registry.address, s.registry.abi as never, signer);
    // Recorded when the registry is deployed, before any decision.
    expect((await reg.PARAMETER_COMMITMENT()).toString()).toBe(m.descriptor.parameters!.commitment);
    const p = solidityProof(b.proof, b.publicSignals);
    await (await reg.attest(p.pA, p.pB, p.pC, p.pubSignals)).wait();
    expect(await reg.isAttested(5005n)).toBe(true);
    // The same network public (the same number of signals): another model commitment, refused.
    const q = solidityProof(second.proof, second.publicSignals);
    const err = await reg.attest.staticCall(q.pA, q.pB, q.pC, q.pubSignals).then(
      () => null,
      (e: unknown) => e,
    );
    expect(decodeRevert(reg.interface, err)?.name).toBe('WrongModel');
  });

  it('registry of a model with proven reasons and fairness records them with the attestation, decoded as the bundle shows them', async () => {
    const applicant = JSON.parse(await readFile(LOAN_APPLICANT, 'utf8'));
    const baseline = Float64Array.from([45, 60, 80, 30, 10, 1, 10, 650]);
    const m = await compileModel(LOAN_MODEL, { fidelity: false, explain: { reasons: 4, baseline, protected: [{ name: 'age', values: [25, 60] }] } });
    const setup = await setupModel(m);
    const b = (await proveModel(m, setup, applicant, { nonce: 6006n })).bundle;
    const s = await compileContracts(bundleModel(m), setup.vkey);
    expect(s.registry.source).toContain('reason feature index');
    const d = await deployContracts(signer, s);
    const reg = new Contract(d.registry.address, s.registry.abi as never, signer);
    const p = solidityProof(b.proof, b.publicSignals);
    await (await reg.attest(p.pA, p.pB, p.pC, p.pubSignals)).wait();
    expect(b.signalNames).toEqual(['modelCommitment', 'inputCommitment', 'packedOutputs[0]', 'packedExplain[0]', 'nonce']);
    const rec = await reg.getAttestation(6006n);
    // The packed outputs, then the packed reasons and fairness bits: what decodeOutputs reads.
    const words = rec.outputs.map(String);
    expect(words).toEqual(b.publicSignals.slice(2, -1));
    const fromChain = decodeOutputs(bundleModel(m), [b.publicSignals[0], b.publicSignals[1], ...words, '6006']);
    expect(fromChain.reasons).toEqual(b.outputs.reasons);
    expect(fromChain.fairness).toEqual(b.outputs.fairness);
  });

  describe('CLI against a local JSON-RPC node', () => {
    let server: Server;
    let rpc: string;
    let dir: string;
    beforeAll(async () => {
      const node = await serveDevChain({ port: 0 });
      server = node.server;
      rpc = node.url;
      dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-chain-'));
      await writeFile(path.join(dir, 'bundle.json'), JSON.stringify(bundle));
      const bad = clone(bundle);
      bad.publicSignals[2] = ((BigInt(bad.publicSignals[2]) + 1n) % FIELD_ORDER).toString();
      await writeFile(path.join(dir, 'tampered.json'), JSON.stringify(bad));
    });
    afterAll(() => server?.close());

    it('deploys, verifies on chain, attests once, and gives calldata the chain accepts', async () => {
      const dep = await cli(['deploy', '--rpc', rpc, LOAN_MODEL, '-o', path.join(dir, 'deployment.json')]);
      expect(dep.code, dep.stderr).toBe(0);
      const d = JSON.parse(dep.stdout) as Deployment;
      expect(d.modelId).toBe(bundle.model.id);
      const bundleFile = path.join(dir, 'bundle.json');

      for (const address of [d.registry.address, d.verifier.address]) {
        const ok = await cli(['verify', '--onchain', '--rpc', rpc, '--address', address, bundleFile]);
        expect(ok.code, ok.stderr).toBe(0);
        expect(ok.stdout).toMatch(/^VALID on chain/);
        const bad = await cli(['verify', '--onchain', '--rpc', rpc, '--address', address, path.join(dir, 'tampered.json')]);
        expect(bad.code).toBe(1);
        expect(bad.stdout).toMatch(/^INVALID on chain/);
      }

      const first = await cli(['attest', '--rpc', rpc, '--address', d.registry.address, bundleFile]);
      expect(first.code, first.stderr).toBe(0);
      expect(JSON.parse(first.stdout)).toMatchObject({ attested: true, nonce: '1001' });
      const replay = await cli(['attest', '--rpc', rpc, '--address', d.registry.address, bundleFile]);
      expect(replay.code).toBe(1);
      expect(JSON.parse(replay.stdout).reason).toMatch(/NonceUsed\(1001\)/);
      const status = await cli(['verify', '--onchain', '--json', '--rpc', rpc, '--address', d.registry.address, bundleFile]);
      expect(JSON.parse(status.stdout)).toMatchObject({ valid: true, contract: 'registry', attested: true });

      const cd = await cli(['calldata', bundleFile]);
      expect(cd.code, cd.stderr).toBe(0);
      const calldata = JSON.parse(cd.stdout) as { calldata: { verifyProof: string }; pubSignals: string[] };
      expect(calldata.pubSignals.map((s) => BigInt(s).toString())).toEqual(bundle.publicSignals);
      const local = new (await import('ethers')).JsonRpcProvider(rpc, 31337, { staticNetwork: true });
      const out = await local.call({ to: d.verifier.address, data: calldata.calldata.verifyProof });
      expect(BigInt(out)).toBe(1n);
      local.destroy();
    });

    it('exports the contracts, and says clearly when the node or the address is wrong', async () => {
      const out = path.join(dir, 'contracts');
      const exp = await cli(['export-verifier', path.join(dir, 'bundle.json'), '-o', out]);
      expect(exp.code, exp.stderr).toBe(0);
      expect(await readFile(path.join(out, 'Groth16Verifier.sol'), 'utf8')).toBe(verifierSource(vkey));
      expect(await readFile(path.join(out, 'ZkinferRegistry.sol'), 'utf8')).toContain(`MODEL_COMMITMENT = ${bundle.model.commitment}`);
      expect(JSON.parse(await readFile(path.join(out, 'contracts.json'), 'utf8')).registry.bytecode).toBe(set.registry.bytecode);

      const noNode = await cli(['verify', '--onchain', '--rpc', 'http://127.0.0.1:9', '--address', deployment.verifier.address, path.join(dir, 'bundle.json')]);
      expect(noNode.code).toBe(2);
      expect(noNode.stderr).toMatch(/CHAIN.*no Ethereum JSON-RPC node answers/);
      const badAddress = await cli(['verify', '--onchain', '--rpc', rpc, '--address', 'registry', path.join(dir, 'bundle.json')]);
      expect(badAddress.code).toBe(2);
      expect(badAddress.stderr).toMatch(/\(address\)/);
      const empty = await cli(['attest', '--rpc', rpc, '--address', '0x000000000000000000000000000000000000dEaD', path.join(dir, 'bundle.json')]);
      expect(empty.code).toBe(2);
    });
  });
});
