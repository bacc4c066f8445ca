import { ZkinferError } from '../core/errors.ts';
import { activationBits, type QuantSettings } from './settings.ts';

/**
 * Per-feature input quantization. A feature i is stored as round(v * 2^scaleBits[i]) and
 * range-checked to bits[i] signed bits, so a model taking raw units (an income in
 * dollars) fits without widening every activation, and a feature with a small range
 * (a pixel in [0, 1]) costs fewer range-check constraints. The first dense layer absorbs
 * the scale difference: its weights are multiplied by 2^(s - scaleBits[i]).
 */
export interface InputQuant {
  /** Scale bits of each feature (at most the model's scale; may be negative). */
  scaleBits: number[];
  /**
   * Bit width each feature is range-checked to (at most the activation width): signed,
   * [-2^(b-1), 2^(b-1)), or unsigned, [0, 2^b), for a feature whose range has lo >= 0.
   */
  bits: number[];
  /** The range each feature was sized for, in real units (from calibration data or declared). */
  lo: number[];
  hi: number[];
}

/** Head-room above the largest magnitude seen in calibration data. */
export const CALIBRATION_MARGIN = 1.25;
/** Lowest per-feature scale: 2^-16 is a unit of 65,536 (an income rounded to that is useless). */
export const MIN_INPUT_SCALE = -16;

/**
 * Scale and width of each feature from its range: the finest scale (up to the model's
 * scale) at which the range, with a margin, fits the activation width; then the fewest
 * bits that hold the range at that scale.
 */
export function inputQuantFromRanges(lo: number[], hi: number[], st: QuantSettings, names: (i: number) => string): InputQuant {
  const w = activationBits(st);
  const scaleBits: number[] = [];
  const bits: number[] = [];
  for (let i = 0; i < lo.length; i++) {
    if (!Number.isFinite(lo[i]) || !Number.isFinite(hi[i]) || lo[i] > hi[i]) {
      throw new ZkinferError('SETTINGS', `the range of ${names(i)} must be two finite numbers lo <= hi`, names(i));
    }
    const maxAbs = Math.max(Math.abs(lo[i]), Math.abs(hi[i])) * CALIBRATION_MARGIN;
    let s = st.scaleBits;
    // round(maxAbs * 2^s) must lie in [-2^(w-1), 2^(w-1)).
    while (s > MIN_INPUT_SCALE && Math.round(maxAbs * 2 ** s) >= 2 ** (w - 1)) s--;
    if (Math.round(maxAbs * 2 ** s) >= 2 ** (w - 1)) {
      throw new ZkinferError(
        'SETTINGS',
        `${names(i)} ranges up to ${maxAbs / CALIBRATION_MARGIN}: too large even at scale 2^${MIN_INPUT_SCALE} with ${w}-bit activations (raise --bits)`,
        names(i),
      );
    }
    const top = Math.round(maxAbs * 2 ** s);
    // Signed: values in [-2^(b-1), 2^(b-1)) hold -top..top. A range with lo >= 0 is
    // checked unsigned, [0, 2^b) holding 0..top: one bit fewer (a pixel in [0, 1]: 11).
    let b = 2;
    if (lo[i] >= 0) {
      b = 1;
      while (2 ** b <= top) b++;
    } else while (2 ** (b - 1) <= top) b++;
    scaleBits.push(s);
    bits.push(Math.min(b, w));
  }
  return { scaleBits, bits, lo: [...lo], hi: [...hi] };
}

/** Per-feature [min, max] over rows of real-valued inputs. */
export function observedRanges(rows: ArrayLike<number>[], size: number): { lo: number[]; hi: number[] } {
  const f = calibratedRanges(rows, size);
  return { lo: f.map((c) => c.observedLo), hi: f.map((c) => c.observedHi) };
}

/**
 * How far calibration widens a feature's range past the data's tails: the largest value
 * seen plus TAIL_MARGIN times its distance from the 90th percentile (the smallest, likewise
 * from the 10th). A sample of a few hundred rows rarely holds the population's largest
 * value: on 300 rows of a log-normal income (sigma 0.8) the sample maximum falls short of
 * the population's 99.99th percentile most of the time, while this rule (with the 25%
 * magnitude margin after it) covers it in 99% of samples, for about two more bits.
 * A range that starts at or above 0 is not widened below 0 (nor one at or below 0 above
 * it), and a feature with at most two distinct values (a flag) is not widened.
 */
export const TAIL_MARGIN = 3;

/** A feature's range from calibration rows: what was seen, and what it is widened to. */
export interface CalibratedRange {
  observedLo: number;
  observedHi: number;
  lo: number;
  hi: number;
  /**
   * Rows piled up at the largest (or smallest nonzero) value, as data capped at a bound
   * are: the real range may be wider than any margin guesses, so it should be declared.
   */
  truncated?: { side: 'max' | 'min'; rows: number };
}

/** Linear-interpolated quantile of sorted values. */
function quantile(sorted: Float64Array, p: number): number {
  const k = (sorted.length - 1) * p;
  const i = Math.floor(k);
  return i + 1 < sorted.length ? sorted[i] + (sorted[i + 1] - sorted[i]) * (k - i) : sorted[i];
}

/**
 * Data that look cut at a bound: at least 10 distinct values, and at least max(3, 1%) of the
 * rows at that bound, three times as many as the average distinct value holds.
 */
function pileUp(count: number, rows: number, distinct: number): boolean {
  return distinct >= 10 && count >= Math.max(3, Math.ceil(rows / 100)) && count >= (3 * rows) / distinct;
}

/** Each feature's observed range and the range calibration sizes it for (TAIL_MARGIN), with signs of truncation. */
export function calibratedRanges(rows: ArrayLike<number>[], size: number): CalibratedRange[] {
  if (rows.length === 0) throw new ZkinferError('SETTINGS', 'the calibration data has no rows', 'calibration');
  const out: CalibratedRange[] = [];
  for (let i = 0; i < size; i++) {
    const v = Float64Array.from(rows, (r) => r[i]).sort();
    const n = v.length;
    const observedLo = v[0];
    const observedHi = v[n - 1];
    let distinct = 1;
    for (let k = 1; k < n; k++) if (v[k] !== v[k - 1]) distinct++;
    let lo = observedLo;
    let hi = observedHi;
    if (distinct > 2) {
      hi = observedHi + TAIL_MARGIN * (observedHi - quantile(v, 0.9));
      lo = observedLo - TAIL_MARGIN * (quantile(v, 0.1) - observedLo);
      if (observedLo >= 0) lo = Math.max(lo, 0);
      if (observedHi <= 0) hi = Math.min(hi, 0);
    }
    const atMax = n - lowerBound(v, observedHi);
    const atMin = countEqual(v, observedLo);
    const c: CalibratedRange = { observedLo, observedHi, lo, hi };
    if (pileUp(atMax, n, distinct)) c.truncated = { side: 'max', rows: atMax };
    else if (observedLo !== 0 && pileUp(atMin, n, distinct)) c.truncated = { side: 'min', rows: atMin };
    out.push(c);
  }
  return out;
}

/** First index of sorted `v` holding a value >= x. */
function lowerBound(v: Float64Array, x: number): number {
  let a = 0;
  let b = v.length;
  while (a < b) {
    const m = (a + b) >> 1;
    if (v[m] < x) a = m + 1;
    else b = m;
  }
  return a;
}

function countEqual(v: Float64Array, x: number): number {
  let k = 0;
  while (k < v.length && v[k] === x) k++;
  return k;
}

/** True when every feature uses the model's scale and the full activation width (the default). */
export function isDefaultInputQuant(q: InputQuant | undefined, st: QuantSettings): boolean {
  if (!q) return true;
  const w = activationBits(st);
  return q.scaleBits.every((s) => s === st.scaleBits) && q.bits.every((b) => b === w);
}

/** A categorical column's one-hot features in the flat input: [start, start + size). */
export interface OneHotGroup {
  /** The column, as errors and the layer table name it: the input, and its column index when it has several. */
  name: string;
  start: number;
  size: number;
}

/** Every categorical column's one-hot features, in flat order. */
export function oneHotGroups(inputs: readonly { name: string; offset: number; categories?: (string[] | null)[] }[]): OneHotGroup[] {
  const out: OneHotGroup[] = [];
  for (const inp of inputs) {
    if (!inp.categories) continue;
    let k = inp.offset;
    inp.categories.forEach((cats, j) => {
      if (cats) out.push({ name: inp.categories!.length === 1 ? inp.name : `${inp.name}[${j}]`, start: k, size: cats.length });
      k += cats ? cats.length : 1;
    });
  }
  return out;
}

/** Whether feature i is range-checked unsigned, to [0, 2^bits[i]): its range starts at or above 0. */
export function isUnsigned(q: Pick<InputQuant, 'lo'> | null | undefined, i: number): boolean {
  return q !== null && q !== undefined && q.lo[i] >= 0;
}

/** The largest magnitude feature i can have after its range check. */
export function inputMagnitude(q: InputQuant, i: number): bigint {
  return isUnsigned(q, i) ? (1n << BigInt(q.bits[i])) - 1n : 1n << BigInt(q.bits[i] - 1);
}

/** Scale and width of each feature a layer reads: the inputs' own for the first layer, else the activations'. */
export interface LayerInputQuant {
  scales: number[];
  widths: number[];
}

/**
 * What the first layer reads: each feature's scale, and the width of a signed range that
 * holds it ([-2^(w-1), 2^(w-1))). An unsigned feature, checked in [0, 2^b), needs w = b + 1.
 */
export function firstLayerInput(st: QuantSettings, inputSize: number, perFeature: InputQuant | null | undefined): LayerInputQuant {
  if (!perFeature) return { scales: new Array(inputSize).fill(st.scaleBits), widths: new Array(inputSize).fill(activationBits(st)) };
  return { scales: [...perFeature.scaleBits], widths: perFeature.bits.map((b, i) => (isUnsigned(perFeature, i) ? b + 1 : b)) };
}
