// Browser-safe: the verification page hashes and vets keys with this same code; the
// sha256 is passed in (node:crypto in Node, crypto.subtle in the browser).
import type { VerificationKey } from 'snarkjs';
import { ZkinferError } from '../errors.ts';

/** sha256 of a string's UTF-8 bytes, as lowercase hex. */
export type Sha256 = (text: string) => string | Promise<string>;

/**
 * The exact text whose sha256 is a key's hash: its JSON with sorted keys, without the
 * derived vk_alphabeta_12, followed by the NUL separator `sha256Hex` appends to each part.
 */
export function vkeyHashText(vkey: VerificationKey): string {
  const canon = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(canon) : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon((v as Record<string, unknown>)[k])])) : v;
  const { vk_alphabeta_12: _derived, ...rest } = vkey;
  return JSON.stringify(canon(rest)) + '\0';
}

/**
 * A key whose gamma equals delta lets anyone forge proofs (the phase-2 contribution
 * never happened): refuse it wherever a key is loaded.
 */
export function assertUsableVkey(vkey: VerificationKey): void {
  if (vkey.protocol !== 'groth16' || vkey.curve !== 'bn128') {
    throw new ZkinferError('BUNDLE_INVALID', `unsupported verification key: ${vkey.protocol}/${vkey.curve}`, 'vkey');
  }
  if (JSON.stringify(vkey.vk_gamma_2) === JSON.stringify(vkey.vk_delta_2)) {
    throw new ZkinferError('VKEY_REFUSED', 'verification key has gamma == delta (no phase-2 contribution): it would accept forged proofs', 'vkey');
  }
}
