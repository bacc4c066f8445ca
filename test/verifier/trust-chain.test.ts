// A hostile bank edits what a verifier is told. Each edit here once produced a VALID
// verdict with a wrong story; each must now be INVALID, naming the field, or (for the
// prover's own claims) be shown as claimed while the key's real provenance is shown.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as snarkjs from 'snarkjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileModel, type CompiledModel, proveModel, setupModel } from '../../src/pipeline/index.ts';
import type { ProofBundle } from '../../src/bundle/format.ts';
import { descriptorOf } from '../../src/bundle/descriptor.ts';
import type { Bn128 } from '../../src/prover/vkey.ts';
import { BASE_FIELD_ORDER, FIELD_ORDER } from '../../src/fixed/field.ts';
import { verifyBundle } from '../../src/verifier/index.ts';
import { cli } from '../helpers/cli.ts';
import { LOAN_APPLICANT, LOAN_MODEL } from '../helpers/paths.ts';

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

describe('trust chain: a verdict holds only what is proven', () => {
  let m: CompiledModel;
  let bundle: ProofBundle;
  let dir: string;
  let publishedKey: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-trust-'));
    m = await compileModel(LOAN_MODEL, { fidelity: false });
    const setup = await setupModel(m);
    bundle = (await proveModel(m, setup, JSON.parse(await readFile(LOAN_APPLICANT, 'utf8')), { nonce: 7n })).bundle;
    publishedKey = path.join(dir, 'published-vkey.json');
    await writeFile(publishedKey, JSON.stringify(setup.vkey));
  });

  async function cliVerify(b: unknown, ...args: string[]) {
    const f = path.join(dir, `b-${Math.random().toString(36).slice(2)}.json`);
    await writeFile(f, JSON.stringify(b));
    return cli(['verify', f, '--vkey', publishedKey, ...args]);
  }

  it('the honest bundle verifies and says what it proves', async () => {
    const v = await verifyBundle(bundle, { vkey: JSON.parse(await readFile(publishedKey, 'utf8')) });
    expect(v).toMatchObject({ valid: true, field: null, modelId: bundle.model.id, nonce: '7', inputCommitment: bundle.publicSignals[1] });
    expect(v.phase1).toMatchObject({ kind: 'development', trusted: false });
  });

  it('attack 1: a decoding setting changed (bits 32 -> 14) is INVALID, naming the field', async () => {
    const b = clone(bundle);
    b.model.settings.bits = 14;
    const v = await verifyBundle(b);
    expect(v).toMatchObject({ valid: false, field: 'model', outputs: null, modelId: null });
    expect(v.reason).toMatch(/does not hash to the model commitment/);
    // A verifier holding the registered descriptor (the REST service) names the exact field.
    const r = await verifyBundle(b, { registered: descriptorOf(bundle.model) });
    expect(r).toMatchObject({ valid: false, field: 'model.settings.bits' });
    const out = await cliVerify(b);
    expect(out.code).toBe(1);
    expect(out.stdout).toMatch(/^INVALID: .*\(field model\)/);
    // No decision line: an invalid bundle shows nothing it decodes (the reason may name the decisionSize field).
    expect(out.stdout).not.toMatch(/^decision /m);
  });

  it('attack 1, every descriptor field: each edit breaks the commitment', async () => {
    const edits: [string, (b: ProofBundle) => void][] = [
      ['head', (b) => (b.model.head = 'none')],
      ['outputSize', (b) => (b.model.outputSize = 2)],
      ['decisionSize', (b) => (b.model.decisionSize = 0)],
      ['publicInput', (b) => (b.model.publicInput = true)],
      ['inputs', (b) => (b.model.inputs[0].name = 'salary')],
      ['scaleBits', (b) => (b.model.settings.scaleBits = 11)],
      ['circuitHash', (b) => (b.model.circuitHash = '0'.repeat(64))],
      ['circuitFormat', (b) => (b.model.circuitFormat = 99)],
      ['packing', (b) => (b.model.packing.perElement = 10)],
      ['commitment', (b) => (b.model.commitment = '1')],
    ];
    for (const [name, edit] of edits) {
      const b = clone(bundle);
      edit(b);
      const v = await verifyBundle(b);
      expect(v.valid, name).toBe(false);
      expect(v.field, name).toMatch(/^model/);
    }
  });

  it('attack 2: a forged model id, and forged copies of proven values, are INVALID naming the field', async () => {
    const cases: [string, (b: ProofBundle) => void][] = [
      ['model', (b) => (b.model.id = '0'.repeat(64))],
      ['outputs.decision', (b) => (b.outputs.decision = [1])],
      ['outputs.integers', (b) => (b.outputs.integers = ['5120'])],
      ['outputs.values', (b) => (b.outputs.values = [5])],
      ['outputs.probability', (b) => (b.outputs.probability = [0.99])],
      ['nonce', (b) => (b.nonce = '8')],
      ['inputCommitment', (b) => (b.inputCommitment = '123')],
      ['signalNames', (b) => (b.signalNames = [...b.signalNames].reverse())],
    ];
    // The CLI runs are independent child processes: started together, checked in order.
    const edited = cases.map(([field, edit]) => {
      const b = clone(bundle);
      edit(b);
      return { field, b, out: cliVerify(b) };
    });
    for (const { field, b, out } of edited) {
      const v = await verifyBundle(b);
      expect(v, field).toMatchObject({ valid: false, field, outputs: null });
      expect((await out).code, field).toBe(1);
      expect((await out).stdout, field).toContain(`(field ${field})`);
    }
  });

  it('attack 2: a development key is shown as development whatever the bundle claims', async () => {
    const b = clone(bundle);
    b.setup.insecure = false;
    b.setup.ptau = { kind: 'ceremony', name: 'powersOfTau28_hez_final_16', power: 16, sha256: 'f'.repeat(64) };
    const v = await verifyBundle(b);
    expect(v.valid).toBe(true);
    expect(v.phase1).toMatchObject({ kind: 'development', trusted: false });
    expect(v.claimedSetup.ptau.kind).toBe('ceremony');
    const out = await cliVerify(b);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/phase 1 \(from the key alone\): DEVELOPMENT/);
    expect(out.stdout).toMatch(/claimed by the prover, not checked: ceremony ptau powersOfTau28_hez_final_16/);
    const claims = path.join(dir, 'claims.json');
    await writeFile(claims, JSON.stringify(b));
    const inspect = await cli(['inspect', claims]);
    expect(inspect.stdout).toMatch(/^NOT VERIFIED/);
    expect(inspect.stdout).toMatch(/phase 1 of the embedded key: DEVELOPMENT/);
  });

  it('attack 5: delta written as gamma + q would let a forged decision verify in snarkjs; it is refused', async () => {
    const curve = (await snarkjs.curves.getCurveFromName('bn128')) as unknown as Bn128 & {
      G1: {
        toObject(p: Uint8Array): bigint[];
        add(a: Uint8Array, b: Uint8Array): Uint8Array;
        neg(a: Uint8Array): Uint8Array;
        toAffine(a: Uint8Array): Uint8Array;
      };
    };
    const vk = clone(bundle.verificationKey);
    vk.vk_delta_2 = vk.vk_gamma_2.map((c, i) => (i < 2 ? [String(BigInt(c[0]) + BASE_FIELD_ORDER), c[1]] : c));
    // Forge: logit +5, decision 1, the applicant's real commitment and nonce.
    const signals = [...bundle.publicSignals];
    const w = bundle.model.packing.width;
    const half = 1n << BigInt(w - 1);
    signals[2] = (5n * 1024n + half + ((1n + half) << BigInt(w))).toString();
    // With delta == gamma, C = -(IC0 + sum s_i IC_i) and A, B = alpha, beta satisfy the pairing.
    const G1 = curve.G1;
    let pub = G1.fromObject(vk.IC[0].map(BigInt));
    signals.forEach((s, i) => (pub = G1.add(pub, G1.timesScalar(G1.fromObject(vk.IC[i + 1].map(BigInt)), BigInt(s)))));
    const c = G1.toObject(G1.toAffine(G1.neg(pub))).map(String);
    const forged = { pi_a: vk.vk_alpha_1, pi_b: vk.vk_beta_2, pi_c: [c[0], c[1], '1'], protocol: 'groth16', curve: 'bn128' };
    expect(await snarkjs.groth16.verify(vk, signals, forged)).toBe(true);

    const b = clone(bundle);
    b.verificationKey = vk;
    b.publicSignals = signals;
    b.proof = forged;
    b.outputs = { ...b.outputs, integers: ['5120'], values: [5], decision: [1], probability: [1 / (1 + Math.exp(-5))] };
    const { vkeyHash } = await import('../../src/prover/setup.ts');
    b.vkeyHash = vkeyHash(vk);
    const v = await verifyBundle(b);
    expect(v).toMatchObject({ valid: false, field: 'verificationKey.vk_delta_2[0][0]', outputs: null });
    expect(v.reason).toMatch(/not a canonical coordinate/);
    // Written canonically, delta == gamma is refused as such.
    b.verificationKey.vk_delta_2 = clone(bundle.verificationKey.vk_gamma_2);
    b.vkeyHash = vkeyHash(b.verificationKey);
    expect(await verifyBundle(b)).toMatchObject({ valid: false, field: 'verificationKey.vk_delta_2', reason: expect.stringMatching(/gamma == delta/) });
    // So is delta == -gamma.
    const g = bundle.verificationKey.vk_gamma_2;
    b.verificationKey.vk_delta_2 = [g[0], g[1].map((y) => ((BASE_FIELD_ORDER - BigInt(y)) % BASE_FIELD_ORDER).toString()), g[2]];
    b.vkeyHash = vkeyHash(b.verificationKey);
    expect(await verifyBundle(b)).toMatchObject({ valid: false, field: 'verificationKey.vk_delta_2', reason: expect.stringMatching(/-gamma/) });
  });

  it('refuses key points off the curve, not affine, or with the wrong IC count', async () => {
    const { vkeyHash } = await import('../../src/prover/setup.ts');
    const cases: [string, (vk: ProofBundle['verificationKey']) => void][] = [
      ['verificationKey.IC[1]', (vk) => (vk.IC[1] = [vk.IC[1][0], String((BigInt(vk.IC[1][1]) + 1n) % BASE_FIELD_ORDER), '1'])],
      ['verificationKey.vk_alpha_1', (vk) => (vk.vk_alpha_1 = [vk.vk_alpha_1[0], vk.vk_alpha_1[1], '2'])],
      [
        'verificationKey.vk_delta_2',
        (vk) => (vk.vk_delta_2 = [vk.vk_delta_2[0], [vk.vk_delta_2[1][0], String((BigInt(vk.vk_delta_2[1][1]) + 1n) % BASE_FIELD_ORDER)], ['1', '0']]),
      ],
      ['verificationKey.IC', (vk) => vk.IC.pop()],
    ];
    for (const [field, edit] of cases) {
      const b = clone(bundle);
      edit(b.verificationKey);
      b.vkeyHash = vkeyHash(b.verificationKey);
      const v = await verifyBundle(b);
      expect(v, field).toMatchObject({ valid: false, field });
    }
  });

  it('public signals above r or longer than 78 digits cannot be smuggled in', async () => {
    const b = clone(bundle);
    b.publicSignals[3] = (BigInt(b.publicSignals[3]) + FIELD_ORDER).toString();
    expect(await verifyBundle(b)).toMatchObject({ valid: false, field: 'publicSignals.3' });
    b.publicSignals[3] = '9'.repeat(79);
    await expect(verifyBundle(b)).rejects.toMatchObject({ code: 'BUNDLE_INVALID', field: 'publicSignals.3' });
  });
});

describe('verify --json on a bundle that cannot be checked', () => {
  it('prints the error as JSON on stdout and exits 2', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-json-'));
    const f = path.join(dir, 'old.json');
    await writeFile(f, JSON.stringify({ format: 'zkinfer.proof-bundle', version: 2 }));
    const r = await cli(['verify', f, '--json']);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({
      valid: false,
      usable: false,
      code: 'BUNDLE_INVALID',
      field: 'version',
      reason: expect.stringMatching(/version 2 bundle/),
    });
  });
});

describe('decision labels are part of the descriptor', () => {
  it('names the decision in the verdict, and an edited label breaks the commitment', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-labels-'));
    await expect(compileModel(LOAN_MODEL, { fidelity: false, labels: ['decline'] })).rejects.toMatchObject({ code: 'SETTINGS', field: 'labels' });
    const m = await compileModel(LOAN_MODEL, { fidelity: false, labels: ['decline', 'approve'] });
    expect(m.descriptor.labels).toEqual(['decline', 'approve']);
    const { bundle } = await proveModel(m, await setupModel(m), JSON.parse(await readFile(LOAN_APPLICANT, 'utf8')));
    const f = path.join(dir, 'bundle.json');
    await writeFile(f, JSON.stringify(bundle));
    const out = await cli(['verify', f]);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^decision 0: decline \(logit < 0\)$/m);
    const edited = clone(bundle);
    edited.model.labels = ['approve', 'decline'];
    expect(await verifyBundle(edited)).toMatchObject({ valid: false, field: 'model' });
  });
});
