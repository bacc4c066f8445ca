// Browser-safe: where proven reasons and fairness bits sit in the public signals (src/quant/explain.ts says what they are).

/** Bits of each packed explanation value: a contribution is a difference of two outputs, in (-2^w, 2^w). */
export const explainWidth = (w: number): number => w + 1;

/** How many values the explanation packs: the reasons' feature indices, then their contributions, then a fairness bit per protected feature. */
export const explainCount = (spec: { reasons: number; protected: unknown[] }): number => 2 * spec.reasons + spec.protected.length;

/** TopK's range-check width for n features at activation width w: every key difference lies within (-2^B, 2^B). */
export function topKBits(n: number, w: number): number {
  const N = BigInt(n);
  return (2n * (1n << BigInt(w)) * N + N + 1n).toString(2).length;
}
