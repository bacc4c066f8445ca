import { sha256Text } from '../core/hash.ts';
import { type PropertyVerifyResult, verifyPropertyWith } from './property.ts';

export { type PropertyVerifyResult, verifyPropertyWith } from './property.ts';

/** `verifyPropertyWith` hashing with node:crypto. */
export function verifyProperty(doc: unknown, opts: { vkey?: unknown } = {}): Promise<PropertyVerifyResult> {
  return verifyPropertyWith(doc, { ...opts, sha256: sha256Text });
}
