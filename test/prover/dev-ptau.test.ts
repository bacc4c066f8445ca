import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as snarkjs from 'snarkjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileCircuit } from '../../src/circuit/index.ts';
import {
  DEV_PTAU_ALPHA,
  DEV_PTAU_BETA,
  DEV_PTAU_SECRET_PREFIX,
  DEV_PTAU_TAU,
  DEV_PTAU_VK_ALPHA_1,
  DEV_PTAU_VK_BETA_2,
  LEGACY_DEV_13_ALPHA_1,
  LEGACY_DEV_13_BETA_2,
} from '../../src/prover/dev-ptau-identity.ts';
import { phase1Of } from '../../src/prover/phase1.ts';
import { fixedBaseMul, type WasmCurve } from '../../src/prover/fixed-base.ts';
import { BUNDLED_DEV_PTAU, developmentPtau, generateDevPtau, identifyPtau, readPtauAlphaG1 } from '../../src/prover/index.ts';
import { hashFile } from '../../src/core/hash.ts';
import { artifactKindDir } from '../../src/core/artifacts.ts';

const R = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;

// A small circuit: a product chain, one public input.
const CIRCUIT = `pragma circom 2.1.0;
template Chain(n) {
  signal input a;
  signal input b;
  signal output c;
  signal m[n];
  m[0] <== a * b;
  for (var i = 1; i < n; i++) m[i] <== m[i - 1] * a + i;
  c <== m[n - 1];
}
component main { public [a] } = Chain(40);
`;

/** Offsets and sizes of a binfile's sections. */
function sections(buf: Buffer): Map<number, { p: number; size: number }> {
  const out = new Map<number, { p: number; size: number }>();
  let pos = 12;
  for (let i = 0; i < buf.readUInt32LE(8); i++) {
    const size = Number(buf.readBigUInt64LE(pos + 4));
    out.set(buf.readUInt32LE(pos), { p: pos + 12, size });
    pos += 12 + size;
  }
  return out;
}

describe('development powers of tau', () => {
  let dir: string;
  let ptau: string;
  let curve: WasmCurve;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-devptau-'));
    ptau = path.join(dir, 'dev-9.ptau');
    await generateDevPtau(9, ptau);
    curve = (await snarkjs.curves.getCurveFromName('bn128', { singleThread: true })) as unknown as WasmCurve;
  });
  afterAll(async () => {
    await curve?.terminate();
  });

  it('is byte for byte what snarkjs preparePhase2 derives from its phase 1 sections', async () => {
    const again = path.join(dir, 'again.ptau');
    await snarkjs.powersOfTau.preparePhase2(ptau, again);
    const [a, b] = await Promise.all([readFile(ptau), readFile(again)]);
    expect(a.byteLength).toBe(b.byteLength);
    expect(a.equals(b)).toBe(true);
    expect([...sections(a).keys()]).toEqual([1, 2, 3, 4, 5, 6, 7, 12, 13, 14, 15]);
  });

  it('gives keys with the published alpha and beta, which prove, verify and pass verifyFromR1cs', async () => {
    const c = await compileCircuit(CIRCUIT);
    const z0 = path.join(dir, 'c0.zkey');
    const z1 = path.join(dir, 'c1.zkey');
    const z2 = path.join(dir, 'c2.zkey');
    await snarkjs.zKey.newZKey(c.r1cs, ptau, z0);
    await snarkjs.zKey.contribute(z0, z1, 'test', 'some entropy');
    await snarkjs.zKey.beacon(z1, z2, 'test beacon', '0102030405060708', 10);
    const vkey = await snarkjs.zKey.exportVerificationKey(z2);
    expect(vkey.vk_alpha_1).toEqual([...DEV_PTAU_VK_ALPHA_1, '1']);
    expect(vkey.vk_beta_2).toEqual([...DEV_PTAU_VK_BETA_2.map((p) => [...p]), ['1', '0']]);
    expect(phase1Of(vkey)).toMatchObject({ kind: 'development', name: 'zkinfer development (published secrets)', trusted: false });

    const { proof, publicSignals } = await snarkjs.groth16.fullProve({ a: 3, b: 5 }, c.wasm, z2);
    expect(await snarkjs.groth16.verify(vkey, publicSignals, proof)).toBe(true);
    const forged = [...publicSignals];
    forged[1] = (BigInt(forged[1]) + 1n).toString();
    expect(await snarkjs.groth16.verify(vkey, forged, proof)).toBe(false);

    // From memory: snarkjs 0.7.6's verifyFromR1cs leaves a file descriptor open on a path.
    const mem = async (f: string) => ({ type: 'mem' as const, data: new Uint8Array(await readFile(f)) });
    expect(await snarkjs.zKey.verifyFromR1cs(await mem(c.r1cs), await mem(ptau), await mem(z2))).toBe(true);
  }, 120_000);

  it('publishes secrets that are the documented hashes, and their points', () => {
    const secret = (name: string) =>
      (
        BigInt(
          '0x' +
            createHash('sha256')
              .update(DEV_PTAU_SECRET_PREFIX + name)
              .digest('hex'),
        ) % R
      ).toString();
    expect([DEV_PTAU_TAU, DEV_PTAU_ALPHA, DEV_PTAU_BETA]).toEqual([secret('tau'), secret('alpha'), secret('beta')]);
    const { G1, G2, Fr } = curve;
    const alpha1 = G1.toObject(G1.toAffine(G1.timesFr(G1.oneAffine, Fr.e(DEV_PTAU_ALPHA)))) as bigint[];
    expect(alpha1.slice(0, 2).map(String)).toEqual([...DEV_PTAU_VK_ALPHA_1]);
    const beta2 = G2.toObject(G2.toAffine(G2.timesFr(G2.oneAffine, Fr.e(DEV_PTAU_BETA)))) as bigint[][];
    expect(beta2.slice(0, 2).map((p) => p.map(String))).toEqual(DEV_PTAU_VK_BETA_2.map((p) => [...p]));
  });

  it('the bundled dev-13 has the published identity; keys of the earlier dev-13 are still named development', async () => {
    const buf = await readFile(BUNDLED_DEV_PTAU.file);
    const s4 = sections(buf).get(4)!;
    const { G1 } = curve;
    const alpha1 = G1.toObject(G1.fromRprLEM(buf, s4.p)) as bigint[];
    expect(alpha1.slice(0, 2).map(String)).toEqual([...DEV_PTAU_VK_ALPHA_1]);
    expect(await identifyPtau(ptau)).toMatchObject({ kind: 'development', name: 'zkinfer-dev-9', power: 9 });
    const key = (alpha: readonly string[], beta: readonly (readonly string[])[]) => ({
      vk_alpha_1: [...alpha, '1'],
      vk_beta_2: [...beta.map((c) => [...c]), ['1', '0']],
    });
    expect(phase1Of(key(LEGACY_DEV_13_ALPHA_1, LEGACY_DEV_13_BETA_2))).toMatchObject({
      kind: 'development',
      name: 'zkinfer development (dev-13, zkinfer 0.1)',
    });
    expect(phase1Of(key(LEGACY_DEV_13_ALPHA_1, DEV_PTAU_VK_BETA_2)).kind).toBe('not-checked');
    expect(phase1Of(key([DEV_PTAU_VK_ALPHA_1[0], LEGACY_DEV_13_ALPHA_1[1]], DEV_PTAU_VK_BETA_2)).kind).toBe('not-checked');
  });

  it('passes over a cached file of another identity, generates and caches one of the published identity', async () => {
    const saved = process.env.ZKINFER_ARTIFACTS;
    process.env.ZKINFER_ARTIFACTS = await mkdtemp(path.join(tmpdir(), 'zkinfer-devptau-store-'));
    try {
      const cache = artifactKindDir('ptau');
      await mkdir(cache, { recursive: true });
      // A "dev-14" from an earlier generator: another alpha, a matching sidecar.
      const stale = path.join(cache, 'dev-14.ptau');
      const bytes = await readFile(ptau);
      bytes[sections(bytes).get(4)!.p + 5] ^= 1;
      await writeFile(stale, bytes);
      await writeFile(`${stale}.sha256`, (await hashFile(stale, 'sha256')) + '\n');

      const p = await developmentPtau(14);
      expect(p).toMatchObject({ file: stale, power: 14, kind: 'development', insecure: true, name: 'zkinfer-dev-14' });
      expect((await readPtauAlphaG1(p.file)).equals(await readPtauAlphaG1(BUNDLED_DEV_PTAU.file))).toBe(true);
      expect((await readFile(`${stale}.sha256`, 'utf8')).trim()).toBe(p.sha256);
      const mtime = (await stat(stale)).mtimeMs;
      expect(await developmentPtau(14)).toEqual(p);
      expect((await stat(stale)).mtimeMs).toBe(mtime);
    } finally {
      if (saved === undefined) delete process.env.ZKINFER_ARTIFACTS;
      else process.env.ZKINFER_ARTIFACTS = saved;
    }
  }, 180_000);

  it('multiplies a fixed base like the generic scalar multiplication, zero and one included', () => {
    const { G1, G2, Fr } = curve;
    const n = 300;
    const scalars = new Uint8Array(n * Fr.n8);
    let x = Fr.e(5n);
    for (let i = 0; i < n; i++) {
      scalars.set(x, i * Fr.n8);
      x = Fr.mul(x, Fr.e(DEV_PTAU_TAU));
    }
    scalars.set(Fr.zero, 3 * Fr.n8);
    scalars.set(Fr.one, 4 * Fr.n8);
    scalars.set(Fr.e(R - 1n), 5 * Fr.n8);
    for (const [name, G] of [
      ['G1', G1],
      ['G2', G2],
    ] as const) {
      const base = G.toAffine(G.timesFr(G.oneAffine, Fr.e(DEV_PTAU_BETA)));
      const out = fixedBaseMul(curve, name, base, scalars);
      const size = G.F.n8 * 2;
      for (let i = 0; i < n; i++) {
        const want = G.toAffine(G.timesFr(base, scalars.subarray(i * Fr.n8, (i + 1) * Fr.n8)));
        expect(Buffer.from(out.subarray(i * size, (i + 1) * size)).equals(Buffer.from(want)), `${name} #${i}`).toBe(true);
      }
    }
  });
});
