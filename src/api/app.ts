import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Redis } from 'ioredis';
import type { Config, Role } from '../config.ts';
import { BullJobQueue, redisConnection } from '../queue/bullmq-queue.ts';
import { LocalJobQueue } from '../queue/local-queue.ts';
import { startReconciler } from '../queue/reconciler.ts';
import type { JobQueue } from '../queue/types.ts';
import { type Db, openDb } from '../store/db.ts';
import { Records } from '../store/records.ts';
import { type Caller, makeAuthenticator } from './auth.ts';
import { errorHandler } from './http-error.ts';
import { type ApiMetrics, createMetrics } from './metrics.ts';
import { artifactRoutes } from './routes/artifacts.ts';
import { healthRoutes } from './routes/health.ts';
import { ceremonyRoutes } from './routes/ceremony.ts';
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
  db: Db;
  records: Records;
  queue: JobQueue;
  metrics: ApiMetrics;
  verifier: VerifyProcesses;
  /** One reconciler pass now (tests and the chaos suite use it; a timer runs it too). */
  reconcile(): Promise<unknown>;
  auth(req: FastifyRequest, roles: Role[]): Caller;
}

declare module 'fastify' {
  interface FastifyInstance {
    zk: AppContext;
  }
}

export interface AppOptions {
  config: Config;
  /** The records database; opened from the config (and closed with the app) when absent. */
  db?: Db;
  /** The job queue; built from the config (and closed with the app) when absent. */
  queue?: JobQueue;
  /** Redis for rate limits (shared by every API process); from the config when absent. */
  redis?: Redis | null;
  logger?: boolean;
  /**
   * Run the reconciler and, in embedded mode, the worker process (default true). False
   * serves the routes only (generating the OpenAPI document).
   */
  background?: boolean;
}

export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const { config } = opts;
  const background = opts.background !== false;
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
  const log = (m: string) => app.log.warn(m);
  const db = opts.db ?? (await openDb({ url: config.databaseUrl, dir: config.dbDir }));
  const records = new Records(db);
  const ownRedis = opts.redis === undefined && config.redisUrl ? redisConnection(config.redisUrl) : null;
  ownRedis?.on('error', () => {});
  const redis = opts.redis ?? ownRedis;
  const queue =
    opts.queue ??
    (config.redisUrl
      ? new BullJobQueue({ redisUrl: config.redisUrl, prefix: config.queuePrefix }, records, log)
      : new LocalJobQueue(records, { ownsStore: db.kind === 'pglite', leaseMs: config.workerLockMs, maxAttempts: config.jobAttempts, autoStart: background, log }));
  const reconciler = background ? startReconciler({ db, records, queue, intervalMs: config.reconcileIntervalMs, idempotencyTtlMs: config.idempotencyTtlMs, log }) : null;
  const ctx: AppContext = {
    config,
    db,
    records,
    queue,
    metrics: createMetrics(queue),
    verifier: new VerifyProcesses(),
    reconcile: async () => (await db.leader(7_240_012, () => queue.reconcile())) ?? null,
    auth: makeAuthenticator(config.apiKeys),
  };
  app.decorate('zk', ctx);
  // While closing, every answer says "Connection: close": a keep-alive connection whose
  // request was in flight at SIGTERM ends after its answer instead of holding the close.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_req, reply) => {
    if (closing) reply.header('connection', 'close');
  });
  // After the server stopped taking requests and the in-flight ones were answered.
  app.addHook('onClose', async () => {
    app.log.info('closing: requests answered; stopping the reconciler and the queue');
    await reconciler?.stop();
    await ctx.verifier.close();
    if (!opts.queue) await queue.close();
    ownRedis?.disconnect();
    if (!opts.db) await db.close();
    app.log.info('closed');
  });
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
    ...(redis ? { redis, nameSpace: `${config.queuePrefix}:ratelimit:` } : {}),
    keyGenerator: (req) => (req.headers.authorization as string | undefined) ?? (req.headers['x-api-key'] as string | undefined) ?? req.ip,
    errorResponseBuilder: (_req, c) => ({ statusCode: 429, code: 'RATE_LIMITED', message: `rate limit of ${c.max} requests per ${c.after} exceeded` }),
    // Redis down: fail the request fast rather than letting it through unlimited or hang.
    skipOnError: false,
  });
  await app.register(multipart, { limits: { fileSize: config.bodyLimit, files: 8, fields: 4 } });
  await app.register(async (scope) => {
    await healthRoutes(scope, ctx);
    await modelRoutes(scope, ctx);
    await artifactRoutes(scope, ctx);
    await proofRoutes(scope, ctx);
    await verifyRoutes(scope, ctx);
    await chainRoutes(scope, ctx);
    await ceremonyRoutes(scope, ctx);
    await verifyPageRoutes(scope);
  });
  return app;
}
