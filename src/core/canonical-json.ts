// Browser-safe (no imports): the verification page hashes descriptors with it.
/**
 * JSON with object keys sorted at every depth (by UTF-16 code units, `Array.prototype.sort`):
 * one text per value, on any machine. Two payloads that differ only in key order have the
 * same text, so their hash is the same: the model commitment (sha256 of a descriptor's
 * canonical JSON) and an Idempotency-Key fingerprint both depend on it, byte for byte.
 *
 * The `undefined` rule, as `JSON.stringify`'s: an object member whose value is `undefined`
 * is left out, an `undefined` array element is written `null`; a top-level `undefined` is
 * `null` (a string is always returned). Unlike `JSON.stringify`, integer-like keys ("2",
 * "10") sort as text like every other key (descriptors have none).
 */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : canonicalJson(x))).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.keys(v)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}
