/**
 * Fixed-base batch scalar multiplication on ffjavascript's bn128 WebAssembly, for the
 * development powers of tau: millions of multiples of one base point.
 *
 * A generic multiplication is ~254 doublings plus ~127 additions. With one base, a table
 * of `d * 256^j * B` (j < 32, d < 256) turns `s * B` into at most 32 mixed additions, one
 * per byte of `s`: about ten times fewer group operations, and no FFT over group elements.
 * Results come out as affine points in Montgomery form (ffjavascript's "LEM"), which is how
 * snarkjs stores points in a ptau file.
 */

/** The parts of an ffjavascript group (G1, G2) this module and the ptau writer use. */
export interface WasmGroup {
  F: { n8: number };
  oneAffine: Uint8Array;
  zero: Uint8Array;
  timesFr(a: Uint8Array, s: Uint8Array): Uint8Array;
  toAffine(a: Uint8Array): Uint8Array;
  toObject(a: Uint8Array): unknown;
  fromRprLEM(buff: Uint8Array, pos?: number): Uint8Array;
  eq(a: Uint8Array, b: Uint8Array): boolean;
}

/** An ffjavascript bn128 curve, as `curves.getCurveFromName('bn128', { singleThread: true })` builds it. */
export interface WasmCurve {
  G1: WasmGroup;
  G2: WasmGroup;
  Fr: {
    n8: number;
    one: Uint8Array;
    zero: Uint8Array;
    e(v: bigint | string | number): Uint8Array;
    mul(a: Uint8Array, b: Uint8Array): Uint8Array;
    toObject(a: Uint8Array): bigint;
    lagrangeEvaluations(buff: Uint8Array): Promise<Uint8Array>;
  };
  tm: {
    instance: { exports: Record<string, (...args: number[]) => void> };
    memory: WebAssembly.Memory;
    u8: Uint8Array;
    u32: Uint32Array;
    alloc(length: number): number;
  };
  pairingEq(...args: Uint8Array[]): Promise<boolean>;
  terminate(): Promise<void>;
}

const WINDOWS = 32; // bytes of a scalar: r < 2^254
const DIGITS = 256;
const CHUNK = 4096; // scalars per batch-to-affine

/**
 * `scalars[i] * base` for every 32-byte Fr element (Montgomery form) in `scalars`, as
 * consecutive affine Montgomery points. `curve` must be a single-threaded instance this
 * caller owns: its WebAssembly memory is grown and used directly.
 */
export function fixedBaseMul(curve: WasmCurve, group: 'G1' | 'G2', baseAffine: Uint8Array, scalars: Uint8Array): Uint8Array {
  const G = curve[group];
  const tm = curve.tm;
  const fn = tm.instance.exports;
  const pre = group === 'G1' ? 'g1m' : 'g2m';
  const sA = G.F.n8 * 2;
  const sJ = G.F.n8 * 3;
  const sFr = curve.Fr.n8;
  const n = scalars.byteLength / sFr;
  if (!Number.isInteger(n)) throw new Error('scalars must be whole Fr elements');

  const tableSize = WINDOWS * DIGITS;
  // The WebAssembly batch functions take their scratch space above the free pointer too.
  const scratch = 2 * tableSize * sJ;
  const need = tableSize * (sJ + sA) + CHUNK * (2 * sFr + sJ + sA) + sA + 64 + scratch;
  const oldFree = tm.u32[0];
  const missing = oldFree + need - tm.memory.buffer.byteLength;
  if (missing > 0) {
    tm.memory.grow(Math.ceil(missing / 65536) + 1);
    tm.u8 = new Uint8Array(tm.memory.buffer);
    tm.u32 = new Uint32Array(tm.memory.buffer);
  }
  const u8 = tm.u8;
  try {
    const pTableJ = tm.alloc(tableSize * sJ);
    const pTable = tm.alloc(tableSize * sA);
    const pBase = tm.alloc(sA);
    const pScalarsM = tm.alloc(CHUNK * sFr);
    const pScalars = tm.alloc(CHUNK * sFr);
    const pOutJ = tm.alloc(CHUNK * sJ);
    const pOut = tm.alloc(CHUNK * sA);
    const zeroJ = G.zero;

    // Table: entry (j, d) = d * 256^j * base, built by repeated addition, then made affine.
    u8.set(baseAffine, pBase);
    const entry = (j: number, d: number) => pTableJ + (j * DIGITS + d) * sJ;
    for (let j = 0; j < WINDOWS; j++) {
      u8.set(zeroJ, entry(j, 0));
      if (j === 0) fn[`${pre}_toJacobian`](pBase, entry(0, 1));
      else fn[`${pre}_add`](entry(j - 1, DIGITS - 1), entry(j - 1, 1), entry(j, 1));
      for (let d = 2; d < DIGITS; d++) fn[`${pre}_add`](entry(j, d - 1), entry(j, 1), entry(j, d));
    }
    fn[`${pre}_batchToAffine`](pTableJ, tableSize, pTable);

    const out = new Uint8Array(n * sA);
    const addMixed = fn[`${pre}_addMixed`];
    for (let start = 0; start < n; start += CHUNK) {
      const k = Math.min(CHUNK, n - start);
      u8.set(scalars.subarray(start * sFr, (start + k) * sFr), pScalarsM);
      fn.frm_batchFromMontgomery(pScalarsM, k, pScalars);
      for (let i = 0; i < k; i++) {
        const acc = pOutJ + i * sJ;
        u8.set(zeroJ, acc);
        const s = pScalars + i * sFr;
        for (let j = 0; j < WINDOWS; j++) {
          const d = u8[s + j];
          if (d !== 0) addMixed(acc, pTable + (j * DIGITS + d) * sA, acc);
        }
      }
      fn[`${pre}_batchToAffine`](pOutJ, k, pOut);
      out.set(u8.subarray(pOut, pOut + k * sA), start * sA);
    }
    return out;
  } finally {
    tm.u32[0] = oldFree;
  }
}
