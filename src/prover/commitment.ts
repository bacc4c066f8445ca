import { randomBytes } from 'node:crypto';
import { FIELD_ORDER } from '../quant/field.ts';

export { inputCommitment, packValues } from './input-commitment.ts';

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
