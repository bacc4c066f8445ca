import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { ApiKey, Role } from '../service/config.ts';
import { HttpError } from './http-error.ts';

export interface Caller {
  role: Role;
  tenant: string;
  /**
   * The key's identity for rate limits and logs: a hash of the key, never the key (null in
   * open development mode, where callers are told apart by address).
   */
  keyId: string | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the authentication hook (onRequest), before any body is read. */
    caller?: Caller;
  }
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * A presented key's fingerprint: for a configured key, its `keyId`. Lets the lockout tell
 * keys apart (and remember good ones) without keeping any key.
 */
export function keyFingerprint(presented: string | undefined): string {
  return presented === undefined ? '' : digest(presented).subarray(0, 12).toString('hex');
}

/** The key a request presents: `Authorization: Bearer <key>`, else the `x-api-key` header. */
export function presentedKey(req: FastifyRequest): string | undefined {
  const header = req.headers.authorization;
  if (typeof header === 'string' && header.startsWith('Bearer ')) return header.slice(7);
  const alt = req.headers['x-api-key'];
  return typeof alt === 'string' && alt !== '' ? alt : undefined;
}

export interface Authenticator {
  /** Open development mode: no keys configured, every caller is admin. */
  readonly open: boolean;
  /** The caller a request's credentials name; a 401 when they are missing or unknown. */
  identify(req: FastifyRequest): Caller;
  /** The route's check: the caller the hook identified, with one of `roles` (admin passes). */
  require(req: FastifyRequest, roles: Role[]): Caller;
}

/**
 * API keys from config, compared in constant time (every key is compared, by digest).
 * With no keys configured the service is in open development mode.
 */
export function makeAuthenticator(keys: ApiKey[]): Authenticator {
  const table = keys.map((k) => {
    const d = digest(k.key);
    return { role: k.role, tenant: k.tenant, digest: d, keyId: keyFingerprint(k.key) };
  });
  const open = table.length === 0;
  const identify = (req: FastifyRequest): Caller => {
    if (open) return { role: 'admin', tenant: 'default', keyId: null };
    const presented = presentedKey(req);
    if (!presented) throw new HttpError(401, 'UNAUTHENTICATED', 'an API key is required (Authorization: Bearer <key>)', 'authorization');
    const d = digest(presented);
    let found: (typeof table)[number] | undefined;
    for (const k of table) if (timingSafeEqual(k.digest, d)) found = k;
    if (!found) throw new HttpError(401, 'UNAUTHENTICATED', 'unknown API key', 'authorization');
    return { role: found.role, tenant: found.tenant, keyId: found.keyId };
  };
  return {
    open,
    identify,
    require(req, roles) {
      const caller = (req.caller ??= identify(req));
      if (caller.role !== 'admin' && !roles.includes(caller.role)) {
        throw new HttpError(403, 'FORBIDDEN', `this route needs the ${roles.join(' or ')} role`, 'authorization');
      }
      return caller;
    },
  };
}
