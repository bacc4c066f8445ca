import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { ApiKey, Role } from '../config.ts';
import { HttpError } from './http-error.ts';

export interface Caller {
  role: Role;
  tenant: string;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * API keys from config, compared in constant time (every key is compared, by digest).
 * With no keys configured the service is in open development mode.
 */
export function makeAuthenticator(keys: ApiKey[]) {
  const table = keys.map((k) => ({ ...k, digest: digest(k.key) }));
  return (req: FastifyRequest, roles: Role[]): Caller => {
    if (table.length === 0) return { role: 'admin', tenant: 'default' };
    const header = req.headers.authorization;
    const presented = header?.startsWith('Bearer ') ? header.slice(7) : (req.headers['x-api-key'] as string | undefined);
    if (!presented) throw new HttpError(401, 'UNAUTHENTICATED', 'an API key is required (Authorization: Bearer <key>)', 'authorization');
    const d = digest(presented);
    let found: (typeof table)[number] | undefined;
    for (const k of table) if (timingSafeEqual(k.digest, d)) found = k;
    if (!found) throw new HttpError(401, 'UNAUTHENTICATED', 'unknown API key', 'authorization');
    if (found.role !== 'admin' && !roles.includes(found.role)) {
      throw new HttpError(403, 'FORBIDDEN', `this route needs the ${roles.join(' or ')} role`, 'authorization');
    }
    return { role: found.role, tenant: found.tenant };
  };
}
