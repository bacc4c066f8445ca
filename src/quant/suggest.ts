import { isZkinferError } from '../core/errors.ts';
import { activationBits, MAX_BITS, type QuantSettings } from '../fixed/settings.ts';
import { measureFidelity } from './measure.ts';
import type { QuantizedModel } from './quantize.ts';
import { percent } from './measure.ts';

/** Largest scale the settings accept (validateSettings). */
const MAX_SCALE = 32;
/** The search stops trying further candidates after this long (a large model's reference is slow). */
const SEARCH_BUDGET_MS = 20_000;

/**
 * What a relative-error warning suggests: the settings found (their relative error on the
 * same inputs) or, with `settings: null`, why none within the limits was found.
 */
export interface SettingsSuggestion {
  settings: QuantSettings | null;
  relativeError: number | null;
  /** Candidate settings run through the integer reference. */
  tried: number;
  reason?: string;
}

/**
 * The candidates, cheapest first: each finer scale 2^s above the current one, with the
 * accumulator widened by as many bits (bits = s + the current activation width), so every
 * value that fits now still fits. A rescale costs `bits` constraints, so the first
 * candidate that works is the smallest circuit among them.
 */
export function candidateSettings(base: QuantSettings): QuantSettings[] {
  const w = activationBits(base);
  const out: QuantSettings[] = [];
  for (let s = base.scaleBits + 1; s <= MAX_SCALE && s + w <= MAX_BITS; s++) out.push({ scaleBits: s, bits: s + w });
  return out;
}

/**
 * Tries each candidate through `requantize` (the same model, per-feature input ranges and
 * limits, quantized with those settings) and the integer reference on the same inputs,
 * against the same float outputs: the first whose relative error is at most `threshold`,
 * with no more inputs out of range than now. A candidate refused for its size or an
 * accumulator that could wrap ends the search (a finer scale only costs more).
 */
export function suggestSettings(
  base: QuantSettings,
  baseOutOfRange: number,
  inputs: ArrayLike<number>[],
  wants: ArrayLike<number>[],
  requantize: (st: QuantSettings) => QuantizedModel,
  threshold: number,
  budgetMs = SEARCH_BUDGET_MS,
): SettingsSuggestion {
  const start = Date.now();
  let tried = 0;
  let best: { st: QuantSettings; err: number } | null = null;
  const candidates = candidateSettings(base);
  for (const st of candidates) {
    if (tried > 0 && Date.now() - start > budgetMs) {
      return {
        settings: null,
        relativeError: best?.err ?? null,
        tried,
        reason: `the search stopped at scale 2^${st.scaleBits - 1} after ${budgetMs / 1000} s`,
      };
    }
    let q: QuantizedModel;
    try {
      q = requantize(st);
    } catch (e) {
      if (!isZkinferError(e)) throw e;
      return {
        settings: null,
        relativeError: best?.err ?? null,
        tried,
        reason:
          `no setting within the limits brings it under: scale 2^${st.scaleBits} with ${st.bits} bits is refused (${e.message})` +
          (best ? `; the best tried, scale 2^${best.st.scaleBits} with ${best.st.bits} bits, reaches ${percent(best.err)}` : ''),
      };
    }
    const m = measureFidelity(q, inputs, wants);
    tried++;
    if (m.relativeError === null || m.outOfRange > baseOutOfRange) continue;
    if (!best || m.relativeError < best.err) best = { st, err: m.relativeError };
    if (m.relativeError <= threshold) return { settings: st, relativeError: m.relativeError, tried };
  }
  const last = candidates.at(-1);
  return {
    settings: null,
    relativeError: best?.err ?? null,
    tried,
    reason: last
      ? `no scale up to 2^${last.scaleBits} (${last.bits} bits) brings it under` +
        (best ? `; the best, scale 2^${best.st.scaleBits}, reaches ${percent(best.err)}` : '')
      : 'the scale is already the largest accepted',
  };
}
