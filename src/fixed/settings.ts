import { ZkinferError } from '../core/errors.ts';

/**
 * Fixed-point settings. A value v is stored as the integer round(v * 2^scaleBits).
 * `bits` is the width of every accumulator before rescaling: activations then have
 * `bits - scaleBits` bits (signed), and each neuron's rescale costs `bits` constraints.
 */
export interface QuantSettings {
  scaleBits: number;
  bits: number;
}

export const DEFAULT_SETTINGS: QuantSettings = { scaleBits: 10, bits: 32 };

/**
 * Settings from what was given: a scale given alone keeps the default activation width
 * (bits = scale + 22), so raising the scale refines the grid without shrinking the range
 * (`--scale 16` with 32 bits would leave activations only [-0.5, 0.5)).
 */
export function resolveSettings(given: Partial<QuantSettings> = {}): QuantSettings {
  const scaleBits = given.scaleBits ?? DEFAULT_SETTINGS.scaleBits;
  const bits = given.bits ?? (given.scaleBits !== undefined ? scaleBits + activationBits(DEFAULT_SETTINGS) : DEFAULT_SETTINGS.bits);
  return { scaleBits, bits };
}

/** Largest accumulator width: 2^bits must stay far below the BN254 scalar field order. */
export const MAX_BITS = 128;

/** Validates settings, reporting every problem at once. */
export function validateSettings(s: QuantSettings): QuantSettings {
  const problems: string[] = [];
  let field: string | undefined;
  if (!Number.isInteger(s.scaleBits) || s.scaleBits < 1 || s.scaleBits > 32) {
    problems.push(`scale must be an integer from 1 to 32 (got ${s.scaleBits})`);
    field = 'scale';
  }
  if (!Number.isInteger(s.bits) || s.bits > MAX_BITS) {
    problems.push(`bits must be an integer of at most ${MAX_BITS} (got ${s.bits})`);
    field ??= 'bits';
  } else if (Number.isInteger(s.scaleBits) && s.bits < s.scaleBits + 4) {
    problems.push(`bits must be at least scale + 4 = ${s.scaleBits + 4} (got ${s.bits})`);
    field ??= 'bits';
  }
  if (problems.length > 0) throw new ZkinferError('SETTINGS', problems.join('; '), field);
  return s;
}

/** Width of an activation (a rescaled value): it lies in [-2^(w-1), 2^(w-1)). */
export function activationBits(s: QuantSettings): number {
  return s.bits - s.scaleBits;
}
