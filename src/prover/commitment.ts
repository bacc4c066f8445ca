import { randomBytes } from 'node:crypto';
import { buildPoseidon, type Poseidon } from 'circomlibjs';
import { FIELD_ORDER, toField } from '../quant/field.ts';

let poseidon: Promise<Poseidon> | undefined;

/**
 * The input commitment, computed exactly as `InputCommitment` in circuits/commitment.circom:
 * Poseidon(salt, v0..v14), then Poseidon(previous, next 15 values) per further block.
 * Negative features enter as field elements (r - |v|).
 */
export async function inputCommitment(features: bigint[], salt: bigint): Promise<bigint> {
  const p = await (poseidon ??= buildPoseidon());
  const vals = features.map(toField);
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
