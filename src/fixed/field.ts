/** Order r of the BN254 scalar field, in which every circuit signal lives. */
export const FIELD_ORDER = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;
/** The BN254 base field modulus q: proof point coordinates must be below it. */
export const BASE_FIELD_ORDER = 21888242871839275222246405745257275088696311157297823662689037894645226208583n;

/** The field element standing for a signed integer. */
export function toField(v: bigint): bigint {
  const m = v % FIELD_ORDER;
  return m < 0n ? m + FIELD_ORDER : m;
}

/** The signed integer a field element stands for (elements above r/2 are negative). */
export function fromField(e: bigint): bigint {
  return e > FIELD_ORDER / 2n ? e - FIELD_ORDER : e;
}
