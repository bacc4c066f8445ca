// Browser-safe: the verification page decodes public signals with this module.

/** Bits a packed field element may use: below log2 r (about 253.6), with room to spare. */
export const PACK_BITS = 250;

/** Field elements needed for `count` values of `width` bits: floor(250 / width) per element. */
export function packedCount(count: number, width: number): number {
  return Math.ceil(count / Math.floor(PACK_BITS / width));
}

/**
 * Packs W-bit signed values, floor(250 / W) per field element, as the circuit's `Pack`
 * and `InputCommitment` do: sum_j (v_j + 2^(W-1)) * 2^(W*j). Injective for in-range values.
 */
export function packValues(values: bigint[], width: number): bigint[] {
  const per = Math.floor(PACK_BITS / width);
  const half = 1n << BigInt(width - 1);
  const out: bigint[] = [];
  values.forEach((v, i) => {
    // The value may be private (a feature): the message says where, not what.
    if (v < -half || v >= half) throw new RangeError(`value ${i} does not fit ${width} bits`);
    const e = Math.floor(i / per);
    out[e] = (out[e] ?? 0n) + ((v + half) << BigInt(width * (i % per)));
  });
  return out;
}

/** The inverse of `packValues`: `count` signed values out of packed elements. */
export function unpackValues(elements: bigint[], count: number, width: number): bigint[] {
  const per = Math.floor(PACK_BITS / width);
  const half = 1n << BigInt(width - 1);
  const mask = (1n << BigInt(width)) - 1n;
  return Array.from({ length: count }, (_, i) => ((elements[Math.floor(i / per)] >> BigInt(width * (i % per))) & mask) - half);
}
