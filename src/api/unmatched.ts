import type { FastifyInstance } from 'fastify';
import { HttpError } from './http-error.ts';

/** A route's path split in segments: `:name` matches any one segment, `*` the rest. */
function matches(pattern: string[], segments: string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i];
    if (p === '*') return true;
    if (i >= segments.length) return false;
    if (p.startsWith(':') ? segments[i] === '' : p !== segments[i]) return false;
  }
  return pattern.length === segments.length;
}

const split = (url: string) => url.split('?')[0].split('/').slice(1);

/**
 * Requests no route takes answer in the one error shape: 405 with an Allow header when the
 * path exists under other methods, 404 naming the path otherwise. Call before any route is
 * registered (it records each route's methods).
 */
export function registerUnmatched(app: FastifyInstance): void {
  const routes: { pattern: string[]; methods: string[] }[] = [];
  app.addHook('onRoute', (r) => {
    routes.push({ pattern: split(r.url ?? r.path), methods: ([] as string[]).concat(r.method) });
  });
  app.setNotFoundHandler(async (req, reply) => {
    const path = req.url.split('?')[0];
    const segments = split(path);
    const allowed = [...new Set(routes.filter((r) => matches(r.pattern, segments)).flatMap((r) => r.methods))].sort();
    if (allowed.length > 0) {
      reply.header('allow', allowed.join(', '));
      throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${path}: use ${allowed.join(', ')}`, 'method');
    }
    throw new HttpError(404, 'NOT_FOUND', `no route ${req.method} ${path}`, 'url');
  });
}
