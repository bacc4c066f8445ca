import { createHmac } from 'node:crypto';
import { canonicalJson } from '../core/canonical-json.ts';

/** The prefix of a keyed fingerprint (rows bound before keying were erased by migration 006). */
export const FINGERPRINT_PREFIX = 'hmac1:';

/**
 * What the idempotency table keeps of a proof request's body: an HMAC-SHA256 under the
 * service's secret (artifacts/secrets/idempotency.key) of the model id and the canonical
 * body. A plain hash of the body could be opened by guessing the applicant's values (ages,
 * incomes: small spaces); without the secret the fingerprint says nothing about them. The
 * same body gives the same fingerprint in every process that shares the artifact store.
 */
export function payloadFingerprint(secret: Buffer, modelId: string, body: unknown): string {
  return FINGERPRINT_PREFIX + createHmac('sha256', secret).update(modelId, 'utf8').update('\0').update(canonicalJson(body), 'utf8').digest('hex');
}
