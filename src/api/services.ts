import type { AddressInfo } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';
import type { Config, Role } from '../service/config.ts';
import { openQueue } from '../queue/backend.ts';
import { redisConnection } from '../queue/bullmq-queue.ts';
import { Heartbeats } from '../queue/heartbeats.ts';
import { startReconciler } from '../queue/reconciler.ts';
import type { JobQueue } from '../queue/types.ts';
import { checkServicePhase1, type ServicePhase1 } from '../service/phase1.ts';
import { type Db, openDb } from '../store/db.ts';
import { serviceSecret } from '../store/service-secret.ts';
import { useConfiguredArtifacts } from '../service/artifact-mode.ts';
import { Stores } from '../store/stores.ts';
import { type Authenticator, type Caller, makeAuthenticator } from './auth.ts';
import { type ApiMetrics, createMetrics } from './metrics.ts';
import { VerifyProcesses } from './verify-processes.ts';

/** The services routes use, built once per app: routes read them from the instance (`app.stores`, `app.queue`, ...). */
declare module 'fastify' {
  interface FastifyInstance extends Omit<Services, 'shutdown'> {
    /** Where /metrics and /docs listen when ADMIN_PORT is set (once the API listens). */
    adminAddress: AddressInfo | undefined;
  }
}

export interface ServicesOptions {
  config: Config;
  /** The records database; opened from the config (and closed with the app) when absent. */
  db?: Db;
  /** The job queue; built from the config (and closed with the app) when absent. */
  queue?: JobQueue;
  /** Redis for rate limits (shared by every API process); from the config when absent. */
  redis?: Redis | null;
  /**
   * Run the reconciler and, in embedded mode, the worker process (default true). False
   * serves the routes only (generating the OpenAPI document).
   */
  background?: boolean;
  /** The phase 1 already checked (checkServicePhase1); checked here when absent. */
  phase1?: ServicePhase1;
}

/** What the services plugin decorates the instance with (all but `shutdown`, which runs on close). */
export interface Services {
  config: Config;
  db: Db;
  /** One store per record (models, versions, proofs, idempotency keys, ceremonies). */
  stores: Stores;
  /** The workers' heartbeats (/readyz). */
  heartbeats: Heartbeats;
  queue: JobQueue;
  /** Redis for rate limits and authentication failures (shared by every API process); null without REDIS_URL. */
  redis: Redis | null;
  metrics: ApiMetrics;
  verifier: VerifyProcesses;
  /** One reconciler pass now (tests and the chaos suite use it; a timer runs it too). */
  reconcile(): Promise<unknown>;
  /** The API keys this service knows (the authentication hook identifies callers with it). */
  authenticator: Authenticator;
  auth(req: FastifyRequest, roles: Role[]): Caller;
  /** The phase 1 every setup and ceremony of this service uses, as checked at start (/readyz shows it). */
  phase1: ServicePhase1;
  /** The secret the idempotency table's payload fingerprints are keyed with (artifacts/secrets). */
  idempotencySecret: Buffer;
  /** Stops the reconciler and the verify processes, and closes what was opened here (not what was given). */
  shutdown(): Promise<void>;
}

/**
 * Opens the service's resources: the phase 1 check, the database and its stores, Redis, the
 * queue, the reconciler and the verify processes. Done before the plugin is registered, so
 * a slow start (a large phase 1 file, migrations) is not cut short by Fastify's plugin timeout.
 */
export async function openServices(opts: ServicesOptions, log: (m: string) => void): Promise<Services> {
  const { config } = opts;
  const background = opts.background !== false;
  // Before anything is opened: a production service on a development phase 1 does not start.
  const phase1 = opts.phase1 ?? (await checkServicePhase1(config));
  if (phase1.insecure)
    log(
      `phase 1: ${phase1.name} (${phase1.source}): development powers of tau, setups made on it are insecure (anyone can ` +
        `forge proofs)${config.mode === 'production' ? ' (production mode: allowed by ZKINFER_ALLOW_DEV_SETUP=true)' : ''}`,
    );
  const db = opts.db ?? (await openDb({ url: config.databaseUrl, dir: config.dbDir }));
  const ownRedis = opts.redis === undefined && config.redisUrl ? redisConnection(config.redisUrl) : null;
  ownRedis?.on('error', () => {});
  const redis = opts.redis ?? ownRedis;
  // Several machines: artifacts in the database (this node's folder a cache), request keys and receipts in Redis.
  const artifacts = useConfiguredArtifacts(config, db, redis, log);
  const stores = new Stores(db, { requestKeys: artifacts.requestKeys });
  const queue = opts.queue ?? openQueue(config, stores, { background, log });
  const reconciler = background
    ? startReconciler({
        db,
        stores,
        queue,
        intervalMs: config.reconcileIntervalMs,
        idempotencyTtlMs: config.idempotencyTtlMs,
        receiptTtlMs: config.receiptTtlMs,
        log,
      })
    : null;
  const authn = makeAuthenticator(config.apiKeys);
  const verifier = new VerifyProcesses();
  return {
    config,
    db,
    stores,
    heartbeats: new Heartbeats(db),
    queue,
    redis,
    metrics: createMetrics(queue),
    verifier,
    reconcile: async () => (await db.leader(7_240_012, () => queue.reconcile())) ?? null,
    authenticator: authn,
    auth: (req, roles) => authn.require(req, roles),
    phase1,
    idempotencySecret: await serviceSecret('idempotency'),
    async shutdown() {
      await reconciler?.stop();
      await verifier.close();
      if (!opts.queue) await queue.close();
      ownRedis?.disconnect();
      if (!opts.db) await db.close();
    },
  };
}

/**
 * Decorates the instance with the opened services (routes read `app.stores`, `app.queue`,
 * ...) and closes them when the app closes, after the in-flight requests were answered.
 */
async function services(app: FastifyInstance, opts: { services: Services }): Promise<void> {
  const s = opts.services;
  app.decorate('config', s.config);
  app.decorate('db', s.db);
  app.decorate('stores', s.stores);
  app.decorate('heartbeats', s.heartbeats);
  app.decorate('queue', s.queue);
  app.decorate('redis', s.redis);
  app.decorate('metrics', s.metrics);
  app.decorate('verifier', s.verifier);
  app.decorate('reconcile', s.reconcile);
  app.decorate('authenticator', s.authenticator);
  app.decorate('auth', s.auth);
  app.decorate('phase1', s.phase1);
  app.decorate('idempotencySecret', s.idempotencySecret);
  app.decorate('adminAddress', undefined);
  // After the server stopped taking requests and the in-flight ones were answered.
  app.addHook('onClose', async () => {
    app.log.info('closing: requests answered; stopping the reconciler and the queue');
    await s.shutdown();
    app.log.info('closed');
  });
}

export const servicesPlugin = fp(services, { name: 'zkinfer-services' });
