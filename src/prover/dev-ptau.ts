import { open } from 'node:fs/promises';
import * as snarkjs from 'snarkjs';
import { DEV_PTAU_ALPHA, DEV_PTAU_BETA, DEV_PTAU_TAU } from './dev-ptau-identity.ts';
import { fixedBaseMul, type WasmCurve } from './fixed-base.ts';

/** Decimal tau, alpha and beta of a powers-of-tau file written by generateDevPtau. */
export interface PtauSecrets {
  tau: string;
  alpha: string;
  beta: string;
}

/** The published development secrets (dev-ptau-identity.ts). */
export const DEV_PTAU_SECRETS: PtauSecrets = { tau: DEV_PTAU_TAU, alpha: DEV_PTAU_ALPHA, beta: DEV_PTAU_BETA };

/**
 * Writes a powers-of-tau file for development only, computed directly from the
 * published secrets in dev-ptau-identity.ts: anyone can forge proofs against a key built
 * on it, and every artifact built from it is marked as an insecure development setup.
 *
 * The file is what snarkjs's `powersOfTau.preparePhase2` would write (same sections, same
 * Montgomery encoding, byte for byte) for a phase 1 whose accumulated tau, alpha and beta
 * are the published ones; its contributions section is empty, since nobody contributed.
 * The Lagrange sections (12-15) are the inverse FFT of the power sections: snarkjs runs
 * that FFT over group points, here it runs over the scalars (the same ffjavascript code on
 * Fr), and each resulting scalar is multiplied by the base point once.
 *
 * `secrets` other than the published ones make a file of another identity: tests use
 * that for "a ptau this key was not made on".
 */
export async function generateDevPtau(
  power: number,
  outFile: string,
  log: (m: string) => void = () => {},
  secrets: PtauSecrets = DEV_PTAU_SECRETS,
): Promise<void> {
  if (!Number.isInteger(power) || power < 1 || power > 27) throw new RangeError(`development ptau power must be 1..27, got ${power}`);
  // A private single-threaded instance: fixedBaseMul uses its WebAssembly memory directly.
  const curve = (await snarkjs.curves.getCurveFromName('bn128', { singleThread: true })) as unknown as WasmCurve;
  const file = await open(outFile, 'w');
  try {
    const { G1, G2, Fr } = curve;
    const n = 2 ** power;
    const sFr = Fr.n8;
    const tau = Fr.e(secrets.tau);
    const alphaG1 = G1.toAffine(G1.timesFr(G1.oneAffine, Fr.e(secrets.alpha)));
    const betaG1 = G1.toAffine(G1.timesFr(G1.oneAffine, Fr.e(secrets.beta)));
    const betaG2 = G2.toAffine(G2.timesFr(G2.oneAffine, Fr.e(secrets.beta)));

    // tau^0 .. tau^(2n-1), Montgomery form.
    const powers = new Uint8Array(2 * n * sFr);
    let t = Fr.one;
    for (let i = 0; i < 2 * n; i++) {
      powers.set(t, i * sFr);
      t = Fr.mul(t, tau);
    }
    const firstPowers = (k: number) => powers.subarray(0, k * sFr);

    // Lagrange scalars per domain 2^p, as preparePhase2 feeds its points: 2^p powers, and
    // for the tauG1 section one more domain (2^(power+1)) whose last point is zero.
    log(`powers of tau 2^${power}: Lagrange scalars`);
    const lagrange: Uint8Array[] = [];
    for (let p = 0; p <= power + 1; p++) {
      const input = firstPowers(2 ** p).slice();
      if (p === power + 1) input.set(Fr.zero, (2 ** p - 1) * sFr);
      lagrange.push(await Fr.lagrangeEvaluations(input));
    }
    const lagrangeUpTo = (last: number) => concat(lagrange.slice(0, last + 1));

    const header = new Uint8Array(4 + 32 + 4 + 4);
    const hv = new DataView(header.buffer);
    hv.setUint32(0, G1.F.n8, true);
    header.set(bigintLE(BN254_Q, 32), 4);
    hv.setUint32(36, power, true);
    hv.setUint32(40, power, true); // ceremony power

    await writeRaw(file, fileHeader(11));
    await writeSection(file, 1, header);
    log('tauG1');
    await writeSection(file, 2, fixedBaseMul(curve, 'G1', G1.oneAffine, firstPowers(2 * n - 1)));
    log('tauG2');
    await writeSection(file, 3, fixedBaseMul(curve, 'G2', G2.oneAffine, firstPowers(n)));
    log('alphaTauG1, betaTauG1');
    await writeSection(file, 4, fixedBaseMul(curve, 'G1', alphaG1, firstPowers(n)));
    await writeSection(file, 5, fixedBaseMul(curve, 'G1', betaG1, firstPowers(n)));
    await writeSection(file, 6, betaG2);
    await writeSection(file, 7, new Uint8Array(4)); // zero contributions
    log('Lagrange tauG1');
    await writeSection(file, 12, fixedBaseMul(curve, 'G1', G1.oneAffine, lagrangeUpTo(power + 1)));
    log('Lagrange tauG2');
    await writeSection(file, 13, fixedBaseMul(curve, 'G2', G2.oneAffine, lagrangeUpTo(power)));
    log('Lagrange alphaTauG1, betaTauG1');
    await writeSection(file, 14, fixedBaseMul(curve, 'G1', alphaG1, lagrangeUpTo(power)));
    await writeSection(file, 15, fixedBaseMul(curve, 'G1', betaG1, lagrangeUpTo(power)));
  } finally {
    await file.close();
    await curve.terminate();
  }
}

/** The BN254 base field order q, as the ptau header records it. */
const BN254_Q = 21888242871839275222246405745257275088696311157297823662689037894645226208583n;

type Handle = Awaited<ReturnType<typeof open>>;

/** binfileutils layout: "ptau", version 1, number of sections. */
function fileHeader(nSections: number): Uint8Array {
  const b = new Uint8Array(12);
  b.set([0x70, 0x74, 0x61, 0x75]);
  new DataView(b.buffer).setUint32(4, 1, true);
  new DataView(b.buffer).setUint32(8, nSections, true);
  return b;
}

/** A section: id (u32), byte length (u64), data. */
async function writeSection(file: Handle, id: number, data: Uint8Array): Promise<void> {
  const h = new Uint8Array(12);
  const v = new DataView(h.buffer);
  v.setUint32(0, id, true);
  v.setBigUint64(4, BigInt(data.byteLength), true);
  await writeRaw(file, h);
  await writeRaw(file, data);
}

async function writeRaw(file: Handle, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.byteLength) off += (await file.write(data, off, data.byteLength - off)).bytesWritten;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.byteLength, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

function bigintLE(v: bigint, bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) out[i] = Number((v >> BigInt(8 * i)) & 0xffn);
  return out;
}
