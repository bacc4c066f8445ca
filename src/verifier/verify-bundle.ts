import type { ModelDescriptor } from '../bundle/descriptor.ts';
import { sha256Text } from '../core/hash.ts';
import { type VerifyResult, verifyBundleWith } from './checks.ts';

export { checkProof, type ProofCheck, type VerifyResult, verifyBundleWith } from './checks.ts';

/** `verifyBundleWith` hashing keys with node:crypto. */
export function verifyBundle(doc: unknown, opts: { vkey?: unknown; registered?: ModelDescriptor } = {}): Promise<VerifyResult> {
  return verifyBundleWith(doc, { ...opts, sha256: sha256Text });
}
