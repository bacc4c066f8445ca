import { ZkinferError } from '../core/errors.ts';
import type { Span } from '../model/ir.ts';
import { activationBits, type QuantSettings } from '../fixed/settings.ts';

/** Shared low-level helpers of the layer modules: fixed point, spans, widths. */

export function toFixed(v: number, scale: number, what: string): bigint {
  // Scaling by a power of two is exact in floating point, and BigInt() of an
  // integer-valued double is exact, so large constants are not silently rounded.
  const x = Math.round(v * 2 ** scale);
  if (!Number.isFinite(x)) {
    throw new ZkinferError('MODEL_BAD_WEIGHTS', `${what} = ${v} is not a finite number`, what);
  }
  return BigInt(x);
}

/** A copy of the layer's span, as a property to spread (nothing when it has none). */
export const spanOf = (l: { span?: Span }): { span?: Span } => (l.span ? { span: [l.span[0], l.span[1]] } : {});

/** The elements the layer acts on: its span, or all `size` of them. */
export const spanRange = (l: { size: number; span?: Span }): [number, number] => l.span ?? [0, l.size];

/** Applies `f` to the elements of the layer's span (all when it has none), the others unchanged. */
export function inSpanFloat(layer: { span?: Span }, x: Float64Array, f: (v: number, i: number) => number): Float64Array {
  const [lo, hi] = layer.span ?? [0, x.length];
  return x.map((v, i) => (i >= lo && i < hi ? f(v, i) : v));
}

/** Applies `f` to the elements of the layer's span (all when it has none), the others unchanged. */
export function inSpanInt(layer: { span?: [number, number] }, x: bigint[], f: (v: bigint, i: number) => bigint): bigint[] {
  const [lo, hi] = layer.span ?? [0, x.length];
  return x.map((v, i) => (i >= lo && i < hi ? f(v, i) : v));
}

export const floorShift = (v: bigint, k: number): bigint => v >> BigInt(k);

/** An intermediate value (derived from the private input, so never shown) must fit `bits`. */
export function checkWidth(v: bigint, bits: number, where: string): void {
  const lim = 1n << BigInt(bits - 1);
  if (v < -lim || v >= lim) {
    throw new ZkinferError(
      'INPUT_RANGE',
      `${where} does not fit ${bits} bits for this input; the input is too large for these settings (raise --bits or lower --scale)`,
      where,
    );
  }
}

/**
 * Binarizer and Normalizer output 1.0 (binarize), or as large as 1.0 (an L1 or L2
 * normalisation, and a MAX one's maximum), so 2^s must fit the activations.
 */
export function checkOneFits(layer: { name: string; kind: 'binarize' | 'normalize' }, st: QuantSettings): void {
  const s = st.scaleBits;
  if (activationBits(st) < s + 2) {
    const what = layer.kind === 'binarize' ? 'Binarizer' : 'Normalizer';
    throw new ZkinferError('SETTINGS', `${layer.name}: a ${what} outputs 1.0, which needs bits >= 2 * scale + 2 = ${2 * s + 2}`, 'bits');
  }
}
