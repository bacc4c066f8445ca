import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Redis } from 'ioredis';
import type { Config, Role } from '../config.ts';
import type { JobQueue } from '../queue/types.ts';
import { ModelStore } from '../store/model-store.ts';
import { ProofStore } from '../store/proof-store.ts';
import { type Caller, makeAuthenticator } from './auth.ts';
import { errorHandler } from './http-error.ts';
import { type IdempotencyStore, memoryIdempotency, redisIdempotency } from './idempotency.ts';
import { type ApiMetrics, createMetrics } from './metrics.ts';
import { healthRoutes } from './routes/health.ts';
import { chainRoutes } from './routes/chain.ts';
import { modelRoutes } from './routes/models.ts';
import { proofRoutes } from './routes/proofs.ts';
import { verifyRoutes } from './routes/verify.ts';
import { verifyPageRoutes } from './routes/verify-page.ts';
import { ErrorSchema } from './schemas.ts';
import { VerifyProcesses } from './verify-processes.ts';

/** The services routes use, built once per app. */
export interface AppContext {
  config: Config;
  queue: JobQueue;
  models: ModelStore;
  proofs: ProofStore;
  idempotency: IdempotencyStore;
  metrics: ApiMetrics;
  verifier: VerifyProcesses;
  auth(req: FastifyRequest, roles: Role[]): Caller;
}

export interface AppOptions {
  config: Config;
  queue: JobQueue;
  /** Redis for idempotency keys and rate limits (shared by every API process); memory otherwise. */
  redis?: Redis | null;
  logger?: boolean;
}

export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const { config } = opts;
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: config.bodyLimit,
    requestTimeout: config.requestTimeoutMs,
    // On close, drop every connection, including ones a browser opened ahead of time
    // and never used (they would otherwise hold shutdown for about a minute).
    forceCloseConnections: true,
    // Strict schemas: no type coercion, no silently dropped fields.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  });
  const ctx: AppContext = {
    config,
    queue: opts.queue,
    models: new ModelStore(),
    proofs: new ProofStore(),
    idempotency: opts.redis ? redisIdempotency(opts.redis, config.queuePrefix) : memoryIdempotency(),
    metrics: createMetrics(opts.queue),
    verifier: new VerifyProcesses(),
    auth: makeAuthenticator(config.apiKeys),
  };
  app.addHook('onClose', async () => ctx.verifier.close());
  app.setErrorHandler(errorHandler);
  // JSON only (and multipart uploads): any other body is a 415, not a string to validate.
  app.removeContentTypeParser('text/plain');
  app.addSchema(ErrorSchema);
  await app.register(swagger, {
    openapi: {
      info: { title: 'zkinfer', version: '0.1.0', description: 'Groth16 proofs of neural network inferences. Authenticate with `Authorization: Bearer <API key>`.' },
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } } },
      security: [{ apiKey: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  await app.register(rateLimit, {
    max: config.rateLimit,
    timeWindow: '1 minute',
    ...(opts.redis ? { redis: opts.redis, nameSpace: `${config.queuePrefix}:ratelimit:` } : {}),
    keyGenerator: (req) => (req.headers.authorization as string | undefined) ?? (req.headers['x-api-key'] as string | undefined) ?? req.ip,
    errorResponseBuilder: (_req, c) => ({ statusCode: 429, code: 'RATE_LIMITED', message: `rate limit of ${c.max} requests per ${c.after} exceeded` }),
    // Redis down: fail the request fast rather than letting it through unlimited or hang.
    skipOnError: false,
  });
  await app.register(multipart, { limits: { fileSize: config.bodyLimit, files: 8, fields: 4 } });
  await app.register(async (scope) => {
    await healthRoutes(scope, ctx);
    await modelRoutes(scope, ctx);
    await proofRoutes(scope, ctx);
    await verifyRoutes(scope, ctx);
    await chainRoutes(scope, ctx);
    await verifyPageRoutes(scope);
  });
  return app;
}
