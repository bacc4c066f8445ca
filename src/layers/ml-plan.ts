import { ZkinferError } from '../core/errors.ts';
import { FIELD_ORDER } from '../fixed/field.ts';

/**
 * Integer rules and circuit sizes of the ai.onnx.ml Binarizer and Normalizer layers,
 * shared by the quantizer, the integer reference, the circuit generator and the size
 * estimate, so the four agree by construction.
 */

/**
 * A Binarizer threshold t as an integer test on a value X stored at scale 2^scale with a
 * signed width of `width` bits (X in [-2^(width-1), 2^(width-1))): x > t, for x = X / 2^scale,
 * is X > t·2^scale, which for an integer X is exactly X > floor(t·2^scale) (t·2^scale is
 * exact in floating point: a power of two). So on the grid the integer test is the float
 * one, for any t, also between grid points. The integer threshold T is then clamped to
 * [lo - 1, hi] (lo, hi the ends of X's range), which changes no outcome (every X is > lo - 1,
 * none is > hi) and keeps X - T - 1 within width + 1 signed bits: the circuit takes the
 * sign digit of X - T - 1 (set exactly when X > T) from a decomposition of width + 1 digits.
 */
export function binarizeThreshold(t: number, scale: number, width: number): bigint {
  const lo = -(1n << BigInt(width - 1));
  const hi = (1n << BigInt(width - 1)) - 1n;
  if (Number.isNaN(t)) throw new ZkinferError('MODEL_BAD_WEIGHTS', 'a Binarizer threshold is NaN', 'threshold');
  if (t === Infinity) return hi;
  if (t === -Infinity) return lo - 1n;
  const f = Math.floor(t * 2 ** scale);
  // Beyond the range either way: clamp before BigInt (a huge double is still exact, but needless).
  if (f >= Number(hi)) return hi;
  if (f <= Number(lo) - 1) return lo - 1n;
  return BigInt(f);
}

/** Constraints of a binarize layer: one decomposition of width b_i + 1 per element. */
export function binarizeCost(widths: number[]): { constraints: number; formula: string } {
  const byWidth = new Map<number, number>();
  for (const b of widths) byWidth.set(b, (byWidth.get(b) ?? 0) + 1);
  const parts = [...byWidth.entries()].sort((a, b) => a[0] - b[0]);
  return {
    constraints: parts.reduce((a, [b, n]) => a + n * (b + 1), 0),
    formula: parts.map(([b, n]) => `${n} x (${b} + 1)`).join(' + '),
  };
}

export type Norm = 'L1' | 'L2' | 'MAX';

/**
 * The widths of a normalize layer's circuit. Every element's output is
 * y_i = floor((2^(s+1)·x'_i + n) / D), D = 2n when the norm n > 0 (so y_i = x'_i·2^s / n
 * rounded half up) and D = 2^(s+1) when n = 0 (so y_i = x_i: onnxruntime leaves a zero row
 * as it is). x' = x, except for MAX over a negative maximum m, where n = |m| and x' = -x
 * (x / m = -x / |m|). The quotient y_i is a hint pinned by: y_i range-checked to the
 * activation width, and the remainder 2^(s+1)·x'_i + n - y_i·D and D - 1 - that remainder
 * both range-checked to `divBits` digits (so it lies in [0, D)). With every magnitude far
 * below p/2 (checked here), that is the integer floor division and nothing else.
 */
export interface NormalizePlan {
  norm: Norm;
  size: number;
  scaleBits: number;
  /** The inputs lie in [-2^(xBits-1), 2^(xBits-1)). */
  xBits: number;
  /** The outputs' width (the activation width): each quotient is range-checked to it. */
  outBits: number;
  /** Every divisor D is at most 2^divBits, so each remainder check has divBits digits. */
  divBits: number;
  /** L2: the root r = floor(sqrt(S)), S = sum x_i^2, lies in [0, 2^rootBits); 0 otherwise. */
  rootBits: number;
  /** L2: S - r^2 and r^2 + 2r - S (both in [0, 2r] exactly when r = floor(sqrt(S))) have gapBits digits; 0 otherwise. */
  gapBits: number;
}

const bitLength = (v: bigint): number => (v <= 0n ? 0 : v.toString(2).length);

/** floor(sqrt(v)) for v >= 0. */
export function isqrt(v: bigint): bigint {
  if (v < 0n) throw new RangeError('isqrt of a negative number');
  if (v < 2n) return v;
  let x = 1n << BigInt(Math.ceil(bitLength(v) / 2));
  for (;;) {
    const y = (x + v / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

/** floor(a / d) for d > 0 (BigInt division truncates toward zero). */
export function floorDiv(a: bigint, d: bigint): bigint {
  const q = a / d;
  return a % d !== 0n && a < 0n ? q - 1n : q;
}

/**
 * Plans a normalize layer over `size` values of width `xBits`, outputs at scale 2^scaleBits
 * with `outBits` bits. Refuses (FIELD_OVERFLOW) widths at which some intermediate could
 * wrap around the field.
 */
export function planNormalize(norm: Norm, size: number, xBits: number, scaleBits: number, outBits: number, name: string): NormalizePlan {
  const X = 1n << BigInt(xBits - 1);
  const n = BigInt(size);
  const zeroDiv = 1n << BigInt(scaleBits + 1);
  let normMax: bigint;
  let rootBits = 0;
  let gapBits = 0;
  let extra = 0n;
  if (norm === 'L1') normMax = n * X;
  else if (norm === 'MAX') normMax = X;
  else {
    const S = n * X * X;
    const r = isqrt(S);
    rootBits = bitLength(r);
    gapBits = bitLength(2n * r);
    normMax = r;
    // S, r^2 and r^2 + 2r are formed in the field.
    extra = S + (1n << BigInt(2 * rootBits)) + (1n << BigInt(rootBits + 1));
  }
  const dMax = 2n * normMax > zeroDiv ? 2n * normMax : zeroDiv;
  const divBits = Math.max(1, bitLength(dMax - 1n));
  // |q·D| + |remainder| + |numerator| (and for L2 the root's terms) must stay below p/2.
  const q = 1n << BigInt(outBits - 1);
  const D = 1n << BigInt(divBits);
  const num = (1n << BigInt(scaleBits + 1)) * X + normMax;
  const bound = q * D + D + num + extra;
  if (bound >= FIELD_ORDER / 2n || divBits + 1 >= 253 || xBits + 2 >= 253) {
    throw new ZkinferError(
      'FIELD_OVERFLOW',
      `${name}: an ${norm} normalisation of ${size} values of ${xBits} bits could wrap around the field; use a smaller scale or bit width`,
      name,
    );
  }
  return { norm, size, scaleBits, xBits, outBits, divBits, rootBits, gapBits };
}

/**
 * Constraints of a normalize layer; `hadPos`: the inputs' sign digits already exist (L1
 * uses them for |x_i|; without them each input is decomposed, xBits constraints).
 * - every element: its quotient (1 product, outBits range check, 2 x divBits remainder checks);
 * - the zero test of the norm: 2;
 * - L1: |x_i| = x_i (2 pos_i - 1), 1 each;
 * - L2: x_i^2, 1 each; r^2, 1; r's range check, rootBits; the two gaps, 2 x gapBits;
 * - MAX: the running maximum, (size - 1) x (xBits + 2) (Max2); its sign, xBits, and |m|, 1;
 *   x_i times that sign, 1 each.
 */
export function normalizeCost(p: NormalizePlan, hadPos: boolean): { constraints: number; formula: string } {
  const n = p.size;
  const per = 1 + p.outBits + 2 * p.divBits;
  const div = n * per;
  const divText = `${n} x (1 + ${p.outBits} + 2 x ${p.divBits})`;
  if (p.norm === 'L1') {
    const signs = hadPos ? 0 : n * p.xBits;
    return { constraints: signs + n + 2 + div, formula: `${hadPos ? '' : `signs ${n} x ${p.xBits} + `}|x| ${n} + zero test 2 + ${divText}` };
  }
  if (p.norm === 'L2') {
    const root = 1 + p.rootBits + 2 * p.gapBits;
    return { constraints: n + root + 2 + div, formula: `squares ${n} + root (1 + ${p.rootBits} + 2 x ${p.gapBits}) + zero test 2 + ${divText}` };
  }
  const max = (n - 1) * (p.xBits + 2);
  return {
    constraints: max + p.xBits + 1 + 2 + n + div,
    formula: `max ${n - 1} x (${p.xBits} + 2) + sign ${p.xBits} + 1 + zero test 2 + flips ${n} + ${divText}`,
  };
}

/**
 * The integer normalisation (the reference and the circuit compute exactly this):
 * the norm n, then y_i = floor((2^(s+1)·x'_i + n) / D) as described at `NormalizePlan`.
 */
export function normalizeInts(norm: Norm, x: bigint[], scaleBits: number): bigint[] {
  let n: bigint;
  let flip = false;
  if (norm === 'L1') n = x.reduce((a, v) => a + (v < 0n ? -v : v), 0n);
  else if (norm === 'L2') n = isqrt(x.reduce((a, v) => a + v * v, 0n));
  else {
    const m = x.reduce((a, v) => (v > a ? v : a), x[0]);
    flip = m < 0n;
    n = flip ? -m : m;
  }
  const D = n === 0n ? 1n << BigInt(scaleBits + 1) : 2n * n;
  return x.map((v) => floorDiv((flip ? -v : v) * (1n << BigInt(scaleBits + 1)) + n, D));
}
