import { randomBytes } from 'node:crypto';
import { buildPoseidon, type Poseidon } from 'circomlibjs';
import { FIELD_ORDER } from '../quant/field.ts';

let poseidon: Promise<Poseidon> | undefined;

/**
 * Packs W-bit signed values, floor(250 / W) per field element, as the circuit does:
 * sum_j (v_j + 2^(W-1)) * 2^(W*j). Injective for in-range values.
 */
export function packValues(values: bigint[], width: number): bigint[] {
  const per = Math.floor(250 / width);
  const half = 1n << BigInt(width - 1);
  const out: bigint[] = [];
  values.forEach((v, i) => {
    if (v < -half || v >= half) throw new RangeError(`value ${v} does not fit ${width} bits`);
    const e = Math.floor(i / per);
    out[e] = (out[e] ?? 0n) + ((v + half) << BigInt(width * (i % per)));
  });
  return out;
}

/**
 * The input commitment, computed exactly as `InputCommitment` in circuits/commitment.circom:
 * pack the quantized features (`width` = activation bits), then
 * Poseidon(salt, e0..e14), then Poseidon(previous, next 15 elements) per further block.
 */
export async function inputCommitment(features: bigint[], salt: bigint, width: number): Promise<bigint> {
  const p = await (poseidon ??= buildPoseidon());
  const vals = packValues(features, width);
  const first = Math.min(15, vals.length);
  let h = p.F.toObject(p([salt, ...vals.slice(0, first)]));
  for (let done = first; done < vals.length; done += 15) {
    h = p.F.toObject(p([h, ...vals.slice(done, done + 15)]));
  }
  return h;
}

/** A random salt below the field order (31 bytes: 248 bits < log2 r). */
export function randomSalt(): bigint {
  return BigInt('0x' + randomBytes(31).toString('hex'));
}

/** A random 128-bit nonce, for callers that do not bring their own. */
export function randomNonce(): bigint {
  return BigInt('0x' + randomBytes(16).toString('hex'));
}

/** A sha256 hex digest as a field element (its top 248 bits, so it is below r). */
export function hashToField(hex: string): bigint {
  const v = BigInt('0x' + hex) >> 8n;
  if (v >= FIELD_ORDER) throw new Error('unreachable: 248-bit value above r');
  return v;
}
