// The verification a page runs, without the DOM: parse what the user gave, pick the
// key, run the same checks as the Node verifier (src/verifier/checks.ts), open the receipt.
import type { VerificationKey } from 'snarkjs';
import { isZkinferError } from '../core/errors.ts';
import { BUNDLE_FORMAT, parseBundle, type ProofBundle, RECEIPT_FORMAT } from '../bundle/index.ts';
import { type ReceiptCheck, checkReceipt } from '../verifier/check-receipt.ts';
import { type VerifyResult, verifyBundleWith } from '../verifier/checks.ts';
import type { ModelDescriptor } from '../bundle/descriptor.ts';

/** A problem with what the user gave (not a wrong proof): shown as such, never thrown further. */
export class InputProblem extends Error {}

/** Where the verification key comes from. */
export type KeySource =
  { kind: 'service'; apiKey: string } | { kind: 'file'; text: string; name: string } | { kind: 'page'; vkey: unknown } | { kind: 'bundle' };

export const KEY_SOURCE_LABEL: Record<KeySource['kind'], string> = {
  service: 'published by this service (GET /v1/models/{id}/vkey, the registered version the bundle names)',
  file: 'loaded from a file',
  page: 'embedded in this page when it was built',
  bundle: 'embedded in the bundle itself: it proves nothing unless its hash equals the published one',
};

export interface Outcome {
  bundle: ProofBundle;
  result: VerifyResult;
  keySource: KeySource['kind'];
  /** The hash the bundle claims for its key (differs from result.vkeyHash on a mismatch). */
  claimedVkeyHash: string;
  verifyMs: number;
  receipt: ReceiptCheck | null;
}

/** sha256 hex of a string's UTF-8 bytes with Web Crypto (available on https, localhost and file://). */
export async function webSha256(text: string): Promise<string> {
  if (!globalThis.crypto?.subtle)
    throw new InputProblem('this browser offers no Web Crypto here (open the page over https, from localhost or as a saved file)');
  const d = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, '0')).join('');
}

export function parseJson(text: string, what: string): unknown {
  if (!text.trim()) throw new InputProblem(`no ${what} given: drop, choose or paste one`);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new InputProblem(`the ${what} is not valid JSON (${(e as Error).message})`);
  }
}

/** Names the document when it is not a bundle at all, before the schema's terser message. */
export function readBundle(text: string): ProofBundle {
  const doc = parseJson(text, 'bundle') as { format?: unknown } | null;
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new InputProblem('the bundle must be a JSON object (a zkinfer proof bundle)');
  if (doc.format === RECEIPT_FORMAT) throw new InputProblem('this is an applicant receipt, not a proof bundle: load it under "Applicant receipt"');
  if (doc.format !== BUNDLE_FORMAT)
    throw new InputProblem(`this is not a zkinfer proof bundle (its "format" is ${JSON.stringify(doc.format ?? null)}, expected "${BUNDLE_FORMAT}")`);
  try {
    return parseBundle(doc);
  } catch (e) {
    throw asProblem(e, 'the bundle is malformed');
  }
}

function asProblem(e: unknown, prefix: string): unknown {
  return isZkinferError(e) ? new InputProblem(`${prefix}: ${e.message}`) : e;
}

/** The registered key version the bundle names (a model's key never changes; a new key is a new version). */
async function fetchServiceKey(modelId: string, vkeyHash: string, apiKey: string): Promise<unknown> {
  const res = await fetch(`/v1/models/${encodeURIComponent(modelId)}/vkey?vkeyHash=${encodeURIComponent(vkeyHash)}`, {
    headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {},
    cache: 'no-store',
  });
  const body = (await res.json().catch(() => null)) as { message?: string } | null;
  if (res.ok) return body;
  const why = body?.message ?? res.statusText;
  if (res.status === 401 || res.status === 403) throw new InputProblem(`the service refused the key request (${res.status}: ${why}): enter a verifier API key`);
  if (res.status === 404)
    throw new InputProblem(
      `this service has no registered key ${vkeyHash} for model ${modelId}: the bundle names a key the service never ` +
        `published (or load the published key from a file)`,
    );
  throw new InputProblem(`the service could not give the key (${res.status}: ${why})`);
}

/**
 * The descriptor this service registered with the key the bundle names (GET /v1/models/{id},
 * that version's): with it a changed bundle.model is named by its field, as POST /v1/verify
 * names it. Undefined when the service does not give it (the hash check still runs).
 */
async function fetchRegisteredDescriptor(modelId: string, vkeyHash: string, apiKey: string): Promise<ModelDescriptor | undefined> {
  const res = await fetch(`/v1/models/${encodeURIComponent(modelId)}`, {
    headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {},
    cache: 'no-store',
  }).catch(() => null);
  if (!res?.ok) return undefined;
  const record = (await res.json().catch(() => null)) as { versions?: { vkeyHash?: string; descriptor?: ModelDescriptor }[] } | null;
  return record?.versions?.find((v) => v.vkeyHash === vkeyHash)?.descriptor;
}

async function resolveKey(source: KeySource, bundle: ProofBundle): Promise<unknown> {
  switch (source.kind) {
    case 'service':
      return fetchServiceKey(bundle.model.id, bundle.vkeyHash, source.apiKey.trim());
    case 'file':
      return parseJson(source.text, `verification key file (${source.name})`);
    case 'page':
      return source.vkey;
    case 'bundle':
      return undefined;
    default:
      return source satisfies never;
  }
}

/**
 * Verifies a bundle in this browser, and opens the receipt when one is given. Throws
 * InputProblem for anything that cannot be checked; a wrong proof is a result.
 */
export async function verifyHere(bundleText: string, source: KeySource, receiptText: string | null): Promise<Outcome> {
  const bundle = readBundle(bundleText);
  const vkey = (await resolveKey(source, bundle)) as VerificationKey | undefined;
  if (vkey !== undefined && (!vkey || typeof vkey !== 'object' || Array.isArray(vkey)))
    throw new InputProblem('the verification key must be a JSON object (snarkjs verification_key.json)');
  const t0 = performance.now();
  let result: VerifyResult;
  try {
    const registered = source.kind === 'service' ? await fetchRegisteredDescriptor(bundle.model.id, bundle.vkeyHash, source.apiKey.trim()) : undefined;
    result = await verifyBundleWith(bundle, { vkey, sha256: webSha256, registered });
  } catch (e) {
    throw asProblem(e, 'the verification key cannot be used');
  }
  const verifyMs = performance.now() - t0;
  let receipt: ReceiptCheck | null = null;
  if (receiptText !== null) {
    try {
      receipt = await checkReceipt(bundle, parseJson(receiptText, 'receipt'));
    } catch (e) {
      if (!(e instanceof InputProblem) && !isZkinferError(e)) throw e;
      receipt = { matches: false, reason: `the receipt cannot be checked: ${e.message}` };
    }
  }
  return { bundle, result, keySource: source.kind, claimedVkeyHash: bundle.vkeyHash, verifyMs, receipt };
}
