import { randomBytes } from 'node:crypto';

/** A random salt below the field order (31 bytes: 248 bits < log2 r). */
export function randomSalt(): bigint {
  return BigInt('0x' + randomBytes(31).toString('hex'));
}

/** A random 128-bit nonce, for callers that do not bring their own. */
export function randomNonce(): bigint {
  return BigInt('0x' + randomBytes(16).toString('hex'));
}
