import { createHash } from 'node:crypto';
import { type VerifyResult, verifyBundleWith } from './checks.ts';

export { checkProof, parseBundle, parseProofParts, type VerifyResult, verifyBundleWith } from './checks.ts';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** `verifyBundleWith` hashing keys with node:crypto. */
export function verifyBundle(doc: unknown, opts: { vkey?: unknown } = {}): Promise<VerifyResult> {
  return verifyBundleWith(doc, { ...opts, sha256 });
}
