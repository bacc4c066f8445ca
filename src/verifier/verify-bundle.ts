import { sha256Text } from '../prover/setup.ts';
import { type VerifyResult, verifyBundleWith } from './checks.ts';

export { checkProof, parseBundle, parseProofParts, type VerifyResult, verifyBundleWith } from './checks.ts';

/** `verifyBundleWith` hashing keys with node:crypto. */
export function verifyBundle(doc: unknown, opts: { vkey?: unknown } = {}): Promise<VerifyResult> {
  return verifyBundleWith(doc, { ...opts, sha256: sha256Text });
}
