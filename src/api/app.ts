import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Redis } from 'ioredis';
import type { Config, Role } from '../core/config.ts';
import { BullJobQueue, redisConnection } from '../queue/bullmq-queue.ts';
import { LocalJobQueue } from '../queue/local-queue.ts';
import { startReconciler } from '../queue/reconciler.ts';
import type { JobQueue } from '../queue/types.ts';
import { type Db, openDb } from '../store/db.ts';
import { Records } from '../store/records.ts';
import { checkServicePhase1, type ServicePhase1 } from '../service-phase1.ts';
import { AuthFailures } from './auth-failures.ts';
import { serviceSecret } from '../store/service-secret.ts';
import { type Caller, keyFingerprint, makeAuthenticator, presentedKey } from './auth.ts';
import { registerJsonParser } from './json-body.ts';
import { buildAdminApp } from './admin.ts';
import { errorHandler, HttpError } from './http-error.ts';
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
  /** The phase 1 every setup and ceremony of this service uses, as checked at start (/readyz shows it). */
  phase1: ServicePhase1;
  /** The secret the idempotency table's payload fingerprints are keyed with (artifacts/secrets). */
  idempotencySecret: Buffer;
  /** Where /metrics and /docs listen when ADMIN_PORT is set (once the API listens). */
  adminAddress?: AddressInfo;
}

declare module 'fastify' {
  interface FastifyInstance {
    zk: AppContext;
  }
  interface FastifyContextConfig {
    /** Served without credentials (liveness, the verification page). */
    public?: boolean;
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
  /** Fastify's logger: off by default; options (a level, a stream) to capture it. */
  logger?: boolean | { level?: string; stream?: NodeJS.WritableStream };
  /**
   * Run the reconciler and, in embedded mode, the worker process (default true). False
   * serves the routes only (generating the OpenAPI document).
   */
  background?: boolean;
  /** The phase 1 already checked (checkServicePhase1); checked here when absent. */
  phase1?: ServicePhase1;
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
  // Before anything is opened: a production service on a development phase 1 does not start.
  const phase1 = opts.phase1 ?? (await checkServicePhase1(config));
  if (phase1.insecure) log(`phase 1: ${phase1.name} (${phase1.source}): development powers of tau, setups made on it are insecure (anyone can forge proofs)${config.mode === 'production' ? ' (production mode: allowed by ZKINFER_ALLOW_DEV_SETUP=true)' : ''}`);
  const db = opts.db ?? (await openDb({ url: config.databaseUrl, dir: config.dbDir }));
  const records = new Records(db);
  const ownRedis = opts.redis === undefined && config.redisUrl ? redisConnection(config.redisUrl) : null;
  ownRedis?.on('error', () => {});
  const redis = opts.redis ?? ownRedis;
  const queue =
    opts.queue ??
    (config.redisUrl
      ? new BullJobQueue({ redisUrl: config.redisUrl, prefix: config.queuePrefix }, records, log)
      : new LocalJobQueue(records, {
          ownsStore: db.kind === 'pglite',
          leaseMs: config.workerLockMs,
          maxAttempts: config.jobAttempts,
          autoStart: background,
          log,
          worker: { limits: config.limits, maxPtauPower: config.maxPtauPower, phase1: { mode: config.mode, ptau: config.ptau, ptauSha256: config.ptauSha256, allowDevSetup: config.allowDevSetup } },
          compileWorkers: config.compileWorkers,
          proveWorkers: config.proveWorkers,
          compilesPerTenant: config.compilesPerTenant,
        }));
  const reconciler = background
    ? startReconciler({ db, records, queue, intervalMs: config.reconcileIntervalMs, idempotencyTtlMs: config.idempotencyTtlMs, receiptTtlMs: config.receiptTtlMs, log })
    : null;
  const authn = makeAuthenticator(config.apiKeys);
  const ctx: AppContext = {
    config,
    db,
    records,
    queue,
    metrics: createMetrics(queue),
    verifier: new VerifyProcesses(),
    reconcile: async () => (await db.leader(7_240_012, () => queue.reconcile())) ?? null,
    auth: (req, roles) => authn.require(req, roles),
    phase1,
    idempotencySecret: await serviceSecret('idempotency'),
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
  // JSON nesting is bounded before the text is parsed.
  app.removeContentTypeParser('text/plain');
  registerJsonParser(app);

  // Authentication comes first, in onRequest: before the body is read or parsed and before
  // the rate limit (which then counts per key, not per header text). An address that
  // failed to authenticate too often is refused before its credentials are compared.
  const failures = new AuthFailures(config.authFailureLimit, redis, config.queuePrefix);
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
      if (req.headers['content-length'] !== '0' && (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined)) reply.header('connection', 'close');
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
      throw new HttpError(429, 'AUTH_RATE_LIMITED', `too many failed authentications from this address: try again in ${wait} s (keys already used from this address still work)`, 'authorization');
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
    ctx.metrics.httpSeconds.observe({ method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });
  app.addSchema(ErrorSchema);
  await app.register(swagger, {
    openapi: {
      info: { title: 'zkinfer', version: '0.1.0', description: 'Groth16 proofs of neural network inferences. Authenticate with `Authorization: Bearer <API key>`.' },
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } } },
      security: [{ apiKey: [] }],
    },
  });
  if (config.adminPort === null) await app.register(swaggerUi, { routePrefix: '/docs' });
  await app.register(rateLimit, {
    max: config.rateLimit,
    timeWindow: '1 minute',
    ...(redis ? { redis, nameSpace: `${config.queuePrefix}:ratelimit:` } : {}),
    // One identity per authenticated key (a hash of it), else the address: header text
    // a caller can vary never makes a new identity.
    keyGenerator: (req) => (req.caller?.keyId ? `key:${req.caller.keyId}` : `ip:${req.ip}`),
    errorResponseBuilder: (_req, c) => ({ statusCode: 429, code: 'RATE_LIMITED', message: `rate limit of ${c.max} requests per ${c.after} exceeded` }),
    // Redis down: fail the request fast rather than letting it through unlimited or hang.
    skipOnError: false,
  });
  // Uploads are bounded by the model byte limit (each file here; their sum in the route).
  await app.register(multipart, { limits: { fileSize: config.limits.maxModelBytes, files: 64, fields: 64, fieldSize: 64 * 1024 } });
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
  if (config.adminPort !== null) {
    // /metrics and /docs on their own port (a private interface), not on the API's.
    let admin: FastifyInstance | null = null;
    app.addHook('onReady', async () => {
      admin = await buildAdminApp(app, ctx);
      await admin.listen({ host: config.host, port: config.adminPort! });
      ctx.adminAddress = admin.server.address() as AddressInfo;
    });
    app.addHook('onClose', async () => {
      await admin?.close();
    });
  }
  return app;
}
