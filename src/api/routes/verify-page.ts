import type { FastifyInstance } from 'fastify';
import { pageCsp } from '../../web/template.ts';
import { pageScript, servedPage } from '../../web/page.ts';

const SCRIPT_URL = '/verify/app.js';

/**
 * The verification page (GET /verify) and its script: it verifies bundles in the
 * visitor's browser, fetching only the model's published key from this service. No
 * auth for the page itself; the key route checks the API key the visitor enters.
 */
export async function verifyPageRoutes(app: FastifyInstance): Promise<void> {
  app.get('/verify', { config: { public: true }, schema: { hide: true } }, async (_req, reply) => {
    const { hash } = await pageScript();
    reply
      .type('text/html; charset=utf-8')
      .header('content-security-policy', `${pageCsp('service')}; frame-ancestors 'none'`)
      .header('cache-control', 'no-cache')
      .header('referrer-policy', 'no-referrer');
    return servedPage(`${SCRIPT_URL}?v=${hash.slice(0, 16)}`, !app.authenticator.open);
  });
  app.get(SCRIPT_URL, { config: { public: true }, schema: { hide: true } }, async (req, reply) => {
    const { code, hash } = await pageScript();
    const etag = `"${hash}"`;
    reply.type('text/javascript; charset=utf-8').header('etag', etag).header('cache-control', 'public, max-age=3600');
    if (req.headers['if-none-match'] === etag) return reply.status(304).send();
    return code;
  });
}
