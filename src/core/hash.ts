// The one place zkinfer hashes with node:crypto: content ids, key hashes, file digests.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/**
 * sha256 (hex) of several parts, each followed by a NUL byte (strings as UTF-8), so
 * ("ab", "c") and ("a", "bc") differ: content-addressed ids and cache keys.
 */
export function sha256Hex(...parts: (string | Uint8Array)[]): string {
  const h = createHash('sha256');
  for (const p of parts) {
    h.update(typeof p === 'string' ? Buffer.from(p, 'utf8') : p);
    h.update('\0');
  }
  return h.digest('hex');
}

/** sha256 of a string's UTF-8 bytes, as hex: the `Sha256` verifiers use in Node. */
export function sha256Text(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** sha256 of bytes, as hex (no separator: the plain digest of exactly these bytes). */
export function sha256Bytes(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A file's digest (hex), streamed: files may be gigabytes (ptau, zkeys). */
export async function hashFile(file: string, algorithm: 'sha256' | 'blake2b512' = 'sha256'): Promise<string> {
  const h = createHash(algorithm);
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}
