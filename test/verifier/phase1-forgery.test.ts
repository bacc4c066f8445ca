// Issue: phase 1 was recognised from two public points. A bank builds its own powers of tau
// (its own tau) but copies a public ceremony's alpha*G1 and beta*G2 into it, sets its model
// up on that file and forges an "approve" for an applicant the genuine proof declined. Here:
// `audit` refuses the key naming the unrecognised ptau; no key-only verifier (CLI, page
// code, REST) names the ceremony; the forged bundle is VALID only where nobody checked phase
// 1, and is refused wherever the verifier's own audit of the key is required.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as snarkjs from 'snarkjs';
import type { VerificationKey } from 'snarkjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileModel, type CompiledModel, proveModel, setupModel } from '../../src/pipeline/index.ts';
import type { ProofBundle } from '../../src/bundle/format.ts';
import { generateDevPtau } from '../../src/prover/dev-ptau.ts';
import { CEREMONY_POINTS, phase1Of } from '../../src/prover/phase1.ts';
import { hashFile } from '../../src/core/hash.ts';
import { vkeyHash } from '../../src/prover/setup.ts';
import { packValues, unpackValues } from '../../src/fixed/pack.ts';
import { activationBits } from '../../src/fixed/settings.ts';
import { decodeOutputs, signalLayout } from '../../src/bundle/decode.ts';
import { verifyBundle } from '../../src/verifier/index.ts';
import { cli } from '../helpers/cli.ts';
import { LOAN_APPLICANT, LOAN_MODEL, REPO } from '../helpers/paths.ts';

type Curve = any;

/** Offset of a binfile section's data. */
async function sectionAt(file: string, id: number): Promise<{ p: number; size: number }> {
  const buf = await readFile(file);
  let pos = 12;
  for (let i = 0; i < buf.readUInt32LE(8); i++) {
    const type = buf.readUInt32LE(pos);
    const size = Number(buf.readBigUInt64LE(pos + 4));
    if (type === id) return { p: pos + 12, size };
    pos += 12 + size;
  }
  throw new Error(`no section ${id}`);
}

async function patch(file: string, at: number, bytes: Uint8Array): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    await fh.write(bytes, 0, bytes.byteLength, at);
  } finally {
    await fh.close();
  }
}

/** ffjavascript's ChaCha random generator (what snarkjs seeds from a beacon), for the delta a beacon applies. */
class ChaCha {
  private state: number[];
  private buff: number[] = [];
  private idx = 16;
  constructor(seed: number[]) {
    this.state = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574, ...seed, 0, 0, 0, 0];
  }
  private static quarter(st: number[], a: number, b: number, c: number, d: number): void {
    const rot = (v: number, n: number) => ((v << n) | (v >>> (32 - n))) >>> 0;
    st[a] = (st[a] + st[b]) >>> 0;
    st[d] = rot((st[d] ^ st[a]) >>> 0, 16);
    st[c] = (st[c] + st[d]) >>> 0;
    st[b] = rot((st[b] ^ st[c]) >>> 0, 12);
    st[a] = (st[a] + st[b]) >>> 0;
    st[d] = rot((st[d] ^ st[a]) >>> 0, 8);
    st[c] = (st[c] + st[d]) >>> 0;
    st[b] = rot((st[b] ^ st[c]) >>> 0, 7);
  }
  nextU32(): number {
    if (this.idx === 16) {
      const b = [...this.state];
      for (let i = 0; i < 10; i++) {
        for (const [a, x, y, z] of [
          [0, 4, 8, 12],
          [1, 5, 9, 13],
          [2, 6, 10, 14],
          [3, 7, 11, 15],
          [0, 5, 10, 15],
          [1, 6, 11, 12],
          [2, 7, 8, 13],
          [3, 4, 9, 14],
        ])
          ChaCha.quarter(b, a, x, y, z);
      }
      this.buff = b.map((v, i) => (v + this.state[i]) >>> 0);
      this.idx = 0;
      for (let i = 12; i < 16; i++) {
        this.state[i] = (this.state[i] + 1) >>> 0;
        if (this.state[i] !== 0) break;
      }
    }
    return this.buff[this.idx++];
  }
  nextU64(): bigint {
    return BigInt(this.nextU32()) * 0x100000000n + BigInt(this.nextU32());
  }
}

/** The delta a snarkjs beacon applies (zkey_beacon.js: rngFromBeaconParams, then Fr.fromRng). */
function beaconDelta(curve: Curve, beaconHex: string, iterationsExp: number): unknown {
  let h: Buffer = Buffer.from(beaconHex, 'hex');
  for (let i = 0; i < 2 ** iterationsExp; i++) h = createHash('sha256').update(h).digest();
  const seed = Array.from({ length: 8 }, (_, i) => h.readUInt32BE(i * 4));
  return curve.Fr.fromRng(new ChaCha(seed));
}

describe("a powers of tau that copies a public ceremony's alpha and beta", () => {
  let dir: string;
  let curve: Curve;
  let fake: string;
  let fakeSha: string;
  let loan: CompiledModel;
  let genuine: ProofBundle;
  let pinned: Awaited<ReturnType<typeof setupModel>>;
  let forged: { vkey: VerificationKey; zkey: string; bundleFile: string; vkeyFile: string };
  let fresh: NodeJS.ProcessEnv;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-fake-phase1-'));
    curve = await snarkjs.curves.getCurveFromName('bn128', { singleThread: true });
    fresh = { ...process.env, ZKINFER_ARTIFACTS: path.join(dir, 'auditor-artifacts') };

    // The bank's own phase 1 (tau, alpha', beta' of its choosing) ...
    fake = path.join(dir, 'fake13.ptau');
    const secret = () => (BigInt('0x' + randomBytes(31).toString('hex')) + 2n).toString();
    await generateDevPtau(13, fake, undefined, { tau: secret(), alpha: secret(), beta: secret() });
    // ... with the ceremony's public points where a key reads them: alphaTauG1[0] and betaG2.
    const { G1, G2 } = curve;
    const alpha1 = G1.fromObject([...CEREMONY_POINTS.alpha1.map(BigInt), 1n]);
    const beta2 = G2.fromObject([...CEREMONY_POINTS.beta2.map((c) => c.map(BigInt)), [1n, 0n]]);
    const a = new Uint8Array(64);
    G1.toRprLEM(a, 0, alpha1);
    const b = new Uint8Array(128);
    G2.toRprLEM(b, 0, beta2);
    await patch(fake, (await sectionAt(fake, 4)).p, a);
    await patch(fake, (await sectionAt(fake, 6)).p, b);
    fakeSha = await hashFile(fake, 'sha256');

    loan = await compileModel(LOAN_MODEL, { fidelity: false });
    // The genuine decision, on the development setup.
    const applicant = JSON.parse(await readFile(LOAN_APPLICANT, 'utf8'));
    genuine = (await proveModel(loan, await setupModel(loan), applicant, { nonce: 4242n })).bundle;

    // `zkinfer setup --ptau fake13.ptau --ptau-sha256 <its hash>`: accepted as the operator's pinned file.
    pinned = await setupModel(loan, { ptau: fake, ptauSha256: fakeSha });

    // The forger's key: a phase 2 whose delta it knows (a beacon only). Whoever knows delta
    // (or, with a phase 1 of its own, tau) forges: A = alpha1, B = beta2, C = -IC(x) / delta.
    const z0 = path.join(dir, 'z0.zkey');
    const zkey = path.join(dir, 'forger.zkey');
    await snarkjs.zKey.newZKey(loan.compiled.r1cs, fake, z0);
    const beacon = randomBytes(32).toString('hex');
    await snarkjs.zKey.beacon(z0, zkey, 'bank beacon', beacon, 10);
    const vkey = (await snarkjs.zKey.exportVerificationKey(zkey)) as VerificationKey;
    const delta = beaconDelta(curve, beacon, 10);
    expect(G2.eq(G2.timesFr(G2.g, delta), G2.fromObject(vkey.vk_delta_2.map((c) => c.map(BigInt))))).toBe(true);

    // Flip the genuine decision: a positive logit and decision 1, same applicant commitment.
    const L = signalLayout(genuine.model);
    const w = activationBits(genuine.model.settings);
    const words = genuine.publicSignals.slice(L.outputs, L.outputs + L.outputCount).map(BigInt);
    const values = unpackValues(words, genuine.model.outputSize + genuine.model.decisionSize, w);
    expect(values.at(-1)).toBe(0n); // the genuine proof said decline
    values[0] = 3n << BigInt(genuine.model.settings.scaleBits);
    values[values.length - 1] = 1n;
    const signals = [...genuine.publicSignals];
    packValues(values, w).forEach((v, i) => (signals[L.outputs + i] = v.toString()));
    let ic = G1.fromObject([...vkey.IC[0].map(BigInt)]);
    signals.forEach((s, i) => (ic = G1.add(ic, G1.timesFr(G1.fromObject(vkey.IC[i + 1].map(BigInt)), curve.Fr.e(s)))));
    const c = G1.toObject(G1.toAffine(G1.neg(G1.timesFr(ic, curve.Fr.inv(delta))))) as bigint[];
    const proof = { pi_a: [...vkey.vk_alpha_1], pi_b: vkey.vk_beta_2, pi_c: [c[0].toString(), c[1].toString(), '1'], protocol: 'groth16', curve: 'bn128' };
    expect(await snarkjs.groth16.verify(vkey, signals, proof as never)).toBe(true);

    const bundle: ProofBundle = {
      ...genuine,
      proof: proof as never,
      publicSignals: signals,
      outputs: decodeOutputs(genuine.model, signals),
      vkeyHash: vkeyHash(vkey),
      verificationKey: vkey,
      setup: { ...pinned.provenance, ptau: { kind: 'ceremony', name: 'powersOfTau28_hez_final_13', power: 13, sha256: fakeSha }, insecure: false },
    };
    const bundleFile = path.join(dir, 'forged.json');
    const vkeyFile = path.join(dir, 'forger-vkey.json');
    await writeFile(bundleFile, JSON.stringify(bundle));
    await writeFile(vkeyFile, JSON.stringify(vkey));
    forged = { vkey, zkey, bundleFile, vkeyFile };
  });

  afterAll(async () => {
    await curve?.terminate();
  });

  it("gives keys that carry the ceremony's alpha and beta, and a forged approve that snarkjs accepts", async () => {
    expect(pinned.vkey.vk_alpha_1.slice(0, 2)).toEqual([...CEREMONY_POINTS.alpha1]);
    expect(forged.vkey.vk_beta_2.slice(0, 2)).toEqual(CEREMONY_POINTS.beta2.map((c) => [...c]));
    expect(pinned.provenance.ptau.kind).toBe('operator-pinned');
  });

  it("audit exits 1 naming the unrecognised ptau, for the pinned setup and for the forger's key", async () => {
    for (const [vkey, zkey] of [
      [pinned.vkeyFile, pinned.zkey],
      [forged.vkeyFile, forged.zkey],
    ]) {
      const r = await cli(['audit', LOAN_MODEL, '--vkey', vkey, '--zkey', zkey, '--ptau', fake], fresh);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stdout).toMatch(/^KEY NOT SHOWN TO ENCODE THE MODEL: the phase1 link broke/);
      expect(r.stdout).toContain(`UNRECOGNISED powers of tau fake13.ptau (sha256 ${fakeSha})`);
      expect(r.stdout).toMatch(/ok {3}zkey: the zkey is this circuit's, made on this ptau/);
      expect(r.stdout).not.toMatch(/hermez/i);
    }
    // An auditor who knows the file (and says so with its hash) may trust it: then every link holds.
    const trusted = await cli(
      ['audit', LOAN_MODEL, '--vkey', pinned.vkeyFile, '--zkey', pinned.zkey, '--ptau', fake, '--trust-ptau', fakeSha, '--json'],
      fresh,
    );
    expect(trusted.code, trusted.stderr).toBe(0);
    expect(JSON.parse(trusted.stdout)).toMatchObject({
      ok: true,
      phase1: { kind: 'auditor-trusted', trusted: true, checkedBy: 'file' },
      trust: { level: 'trusted' },
    });
  });

  it('no key-only verifier names the ceremony: phase 1 is "not checked"', async () => {
    for (const key of [pinned.vkey, forged.vkey]) {
      const p1 = phase1Of(key); // what the CLI, the page and REST's key check use
      expect(p1).toMatchObject({ kind: 'not-checked', trusted: false, checkedBy: 'key' });
      expect(p1.label).not.toMatch(/hermez/i);
    }
    const r = await verifyBundle(JSON.parse(await readFile(forged.bundleFile, 'utf8')));
    expect(r).toMatchObject({ valid: true, phase1: { kind: 'not-checked' }, trust: { level: 'untrusted' } });
  });

  it('the forged bundle: VALID where phase 1 is not checked, and says so; refused where the verifier requires its own audit', async () => {
    const plain = await cli(['verify', forged.bundleFile]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toMatch(/^VALID/);
    expect(plain.stdout).toMatch(/SETUP: phase 1 NOT ESTABLISHED/);
    expect(plain.stdout).toMatch(/phase 1 \(from the key alone\): not checked/);
    expect(plain.stdout).toMatch(/decision 1/);
    expect(plain.stdout).not.toMatch(/hermez/i);

    const required = await cli(['verify', forged.bundleFile, '--require-trusted-setup']);
    expect(required.code).toBe(1);
    expect(required.stdout).toMatch(/^REFUSED BY THE TRUST POLICY: phase 1 is not established/);

    // The regulator's own audit of the key (it failed) refuses it, with or without the policy.
    const report = await cli(['audit', LOAN_MODEL, '--vkey', forged.vkeyFile, '--zkey', forged.zkey, '--ptau', fake, '--json'], fresh);
    expect(report.code).toBe(1);
    const reportFile = path.join(dir, 'audit.json');
    await writeFile(reportFile, report.stdout);
    const audited = await cli(['verify', forged.bundleFile, '--audit', reportFile]);
    expect(audited.code).toBe(1);
    expect(audited.stdout).toMatch(/your audit of this key FAILED/);
    // Against the published key of the model, the forged bundle is not even the same key.
    const published = path.join(dir, 'published-vkey.json');
    await writeFile(published, JSON.stringify(genuine.verificationKey));
    const other = await cli(['verify', forged.bundleFile, '--vkey', published]);
    expect(other.code).toBe(1);
    expect(other.stdout).toMatch(/^INVALID: the supplied verification key/);
  });

  it('a development setup: audit holds but says DEVELOPMENT first, and --require-trusted-setup refuses it', async () => {
    const dev = await setupModel(loan);
    const devPtau = path.join(REPO, 'ptau', 'dev-13.ptau');
    const r = await cli(['audit', LOAN_MODEL, '--vkey', dev.vkeyFile, '--zkey', dev.zkey, '--ptau', devPtau], fresh);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n').slice(0, 2).join('\n')).toMatch(/ON A DEVELOPMENT SETUP[\s\S]*SETUP: DEVELOPMENT/);
    const strict = await cli(['audit', LOAN_MODEL, '--vkey', dev.vkeyFile, '--zkey', dev.zkey, '--ptau', devPtau, '--require-trusted-setup'], fresh);
    expect(strict.code).toBe(1);
    expect(strict.stdout).toMatch(/^SETUP REFUSED BY THE TRUST POLICY/);
    expect(strict.stdout).toMatch(/FAIL policy: the setup is a development one/);
    // A development file stays development even when the auditor passes its hash.
    const devSha = await hashFile(devPtau, 'sha256');
    const stillDev = await cli(
      ['audit', LOAN_MODEL, '--vkey', dev.vkeyFile, '--zkey', dev.zkey, '--ptau', devPtau, '--trust-ptau', devSha, '--require-trusted-setup'],
      fresh,
    );
    expect(stillDev.code).toBe(1);
    // And an audit report of the development key, given to verify, keeps it development.
    const json = await cli(['audit', LOAN_MODEL, '--vkey', dev.vkeyFile, '--zkey', dev.zkey, '--ptau', devPtau, '--json'], fresh);
    const reportFile = path.join(dir, 'dev-audit.json');
    await writeFile(reportFile, json.stdout);
    const bundleFile = path.join(dir, 'genuine.json');
    await writeFile(bundleFile, JSON.stringify(genuine));
    const v = await cli(['verify', bundleFile, '--audit', reportFile, '--require-trusted-setup']);
    expect(v.code).toBe(1);
    expect(v.stdout).toMatch(/^REFUSED BY THE TRUST POLICY: the setup is a development one/);
    const noPolicy = await cli(['verify', bundleFile, '--audit', reportFile]);
    expect(noPolicy.code).toBe(0);
    expect(noPolicy.stdout).toMatch(/^VALID[^\n]*\nSETUP: DEVELOPMENT/);
    // An audit report of another key is unusable input (exit 2), not a verdict.
    const wrong = await cli(['verify', forged.bundleFile, '--audit', reportFile]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/--audit is a report of the key/);
  });
});
