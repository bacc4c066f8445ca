import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import multipart from '@fastify/multipart';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { AuthFailures } from './auth-failures.ts';
import { type Caller, keyFingerprint, presentedKey } from './auth.ts';
import { registerJsonParser } from './json-body.ts';
import { registerUnmatched } from './unmatched.ts';
import { buildAdminApp } from './admin.ts';
import { errorHandler, HttpError } from './http-error.ts';
import { artifactRoutes } from './routes/artifacts.ts';
import { healthRoutes } from './routes/health.ts';
import { ceremonyRoutes } from './routes/ceremony.ts';
import { chainRoutes } from './routes/chain.ts';
import { modelRoutes } from './routes/models.ts';
import { proofRoutes } from './routes/proofs.ts';
import { verifyRoutes } from './routes/verify.ts';
import { verifyPageRoutes } from './routes/verify-page.ts';
import { ErrorSchema } from './schemas.ts';
import { fallbackRateLimitStore, OutageFlag } from './rate-limit-store.ts';
import { openServices, type ServicesOptions, servicesPlugin } from './services.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Served without credentials (liveness, the verification page). */
    public?: boolean;
  }
}

/** The route files, each a tag of the OpenAPI document, in the document's order. */
const ROUTE_GROUPS: [string, (app: FastifyInstance) => Promise<void>, string][] = [
  ['health', healthRoutes, 'liveness, readiness, metrics'],
  ['models', modelRoutes, 'upload a model, its status, versions, descriptor and verification key'],
  ['artifacts', artifactRoutes, "a model's published files: circuit, r1cs, zkey, ptau, for `zkinfer audit`"],
  ['proofs', proofRoutes, 'request a proof of one input, fetch it and its receipt'],
  ['verify', verifyRoutes, "verify a proof bundle against the model's registered key"],
  ['chain', chainRoutes, 'Solidity verifier, contracts and calldata for on-chain verification'],
  ['ceremony', ceremonyRoutes, "a model's phase-2 ceremony: contributions, finalize, reset"],
  ['page', verifyPageRoutes, 'the verification page'],
];

export interface AppOptions extends ServicesOptions {
  /** Fastify's logger: off by default; options (a level, a stream) to capture it. */
  logger?: boolean | { level?: string; stream?: NodeJS.WritableStream };
}

/**
 * The API: the services plugin (services.ts) decorates the instance with the stores, the
 * queue and the rest; then authentication, rate limits, the OpenAPI document and the routes.
 */
export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const { config } = opts;
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: config.bodyLimit,
    requestTimeout: config.requestTimeoutMs,
    // On close: stop listening, close idle keep-alive connections, let in-flight requests
    // finish ('idle', not true: a request being answered is never cut off).
    forceCloseConnections: 'idle',
    // Strict schemas: no type coercion, no silently dropped fields.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  });
  registerUnmatched(app);
  await app.register(servicesPlugin, { services: await openServices(opts, (m) => app.log.warn(m)) });
  const { authenticator: authn, redis } = app;
  // While closing, every answer says "Connection: close": a keep-alive connection whose
  // request was in flight at SIGTERM ends after its answer instead of holding the close.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_req, reply) => {
    if (closing) reply.header('connection', 'close');
  });
  app.setErrorHandler(errorHandler);
  // JSON only (and multipart uploads): any other body is a 415, not a string to validate.
  // JSON nesting is bounded before the text is parsed.
  app.removeContentTypeParser('text/plain');
  registerJsonParser(app);

  // Authentication comes first, in onRequest: before the body is read or parsed and before
  // the rate limit (which then counts per key, not per header text). An address that
  // failed to authenticate too often is refused before its credentials are compared.
  // Redis down: rate limits and authentication failures are counted in this process meanwhile
  // (logged once when it goes and once when it is back), so reads keep being served.
  const redisOutage = new OutageFlag((m) => app.log.warn(m));
  const failures = new AuthFailures(config.authFailureLimit, redis, config.queuePrefix, undefined, undefined, undefined, redisOutage);
  const adminRoute = (url: string | undefined) => url === '/metrics' || url === '/docs' || (url?.startsWith('/docs/') ?? false);
  app.addHook('onRequest', async (req, reply) => {
    if (authn.open) {
      req.caller = authn.identify(req);
      return;
    }
    const url = req.routeOptions.url;
    if (req.routeOptions.config?.public === true || (config.publicDocs && adminRoute(url))) return;
    // A refused request's body is never read: close the connection after the answer rather
    // than leave the sender to push the rest of it into a socket nobody reads.
    const refuse = () => {
      if (req.headers['content-length'] !== '0' && (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined))
        reply.header('connection', 'close');
    };
    const fp = keyFingerprint(presentedKey(req));
    const wait = await failures.blockedFor(req.ip);
    if (wait > 0) {
      // A locked address: the keys that authenticated from it before still work (its other
      // clients are not locked out by one that is misconfigured); any other key, valid or
      // not, waits, so guessing learns nothing. The lookup is made for every key presented.
      const known = await failures.knownFrom(req.ip, fp);
      let caller: Caller | null = null;
      try {
        caller = authn.identify(req);
      } catch {
        caller = null;
      }
      if (known && caller) {
        req.caller = caller;
        return;
      }
      refuse();
      reply.header('retry-after', String(wait));
      throw new HttpError(
        429,
        'AUTH_RATE_LIMITED',
        `too many failed authentications from this address: try again in ${wait} s (keys already used from this address still work)`,
        'authorization',
      );
    }
    try {
      req.caller = authn.identify(req);
    } catch (e) {
      refuse();
      await failures.record(req.ip, fp);
      throw e;
    }
    await failures.succeeded(req.ip, fp);
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    app.metrics.httpSeconds.observe({ method: req.method, route, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });
  app.addSchema(ErrorSchema);
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'zkinfer',
        version: '0.1.0',
        description: 'Groth16 proofs of neural network inferences. Authenticate with `Authorization: Bearer <API key>`.',
      },
      tags: ROUTE_GROUPS.map(([name, , description]) => ({ name, description })),
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } } },
      security: [{ apiKey: [] }],
    },
  });
  if (config.adminPort === null) await app.register(swaggerUi, { routePrefix: '/docs' });
  await app.register(rateLimit, {
    max: config.rateLimit,
    timeWindow: '1 minute',
    ...(redis ? { store: fallbackRateLimitStore(redis, `${config.queuePrefix}:ratelimit:`, redisOutage) } : {}),
    // One identity per authenticated key (a hash of it), else the address: header text
    // a caller can vary never makes a new identity.
    keyGenerator: (req) => (req.caller?.keyId ? `key:${req.caller.keyId}` : `ip:${req.ip}`),
    errorResponseBuilder: (_req, c) => ({ statusCode: 429, code: 'RATE_LIMITED', message: `rate limit of ${c.max} requests per ${c.after} exceeded` }),
    // The store falls back to this process's count when Redis is down; any other store error fails the request.
    skipOnError: false,
  });
  // Uploads are bounded by the model byte limit (each file here; their sum in the route).
  await app.register(multipart, { limits: { fileSize: config.limits.maxModelBytes, files: 64, fields: 64, fieldSize: 64 * 1024 } });
  await app.register(async (scope) => {
    // Each route file is a group of the OpenAPI document (a tag), not all under "default".
    let tag: string | null = null;
    scope.addHook('onRoute', (r) => {
      if (tag && !r.schema?.tags) r.schema = { ...r.schema, tags: [tag] };
    });
    for (const [name, routes] of ROUTE_GROUPS) {
      tag = name;
      await routes(scope);
    }
    tag = null;
  });
  if (config.adminPort !== null) {
    // /metrics and /docs on their own port (a private interface), not on the API's.
    let admin: FastifyInstance | null = null;
    app.addHook('onReady', async () => {
      admin = await buildAdminApp(app);
      await admin.listen({ host: config.host, port: config.adminPort! });
      app.adminAddress = admin.server.address() as AddressInfo;
    });
    app.addHook('onClose', async () => {
      await admin?.close();
    });
  }
  return app;
}
