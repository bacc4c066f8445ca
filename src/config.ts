import { ZkinferError } from './errors.ts';

/** contributor: reads a ceremony and uploads contributions to it (its own tenant's models), nothing else. */
export type Role = 'prover' | 'verifier' | 'admin' | 'contributor';

export interface ApiKey {
  key: string;
  role: Role;
  tenant: string;
}

/** One typed configuration per process, read from the environment and validated at boot. */
export interface Config {
  host: string;
  port: number;
  /** BullMQ on this Redis when set (needs databaseUrl); otherwise the database is the queue. */
  redisUrl: string | null;
  /** PostgreSQL for the records when set; otherwise the embedded store (PGlite). */
  databaseUrl: string | null;
  /** Folder of the embedded store (default artifacts/db; "memory://" keeps nothing). */
  dbDir: string | null;
  /** How often the reconciler brings every open record to a live job. */
  reconcileIntervalMs: number;
  /** /readyz is not ready when no worker heartbeat is younger than this. */
  heartbeatStaleMs: number;
  /** How many times a job is taken before it is failed (worker deaths included). */
  jobAttempts: number;
  /** How long an Idempotency-Key stays bound to its proof. */
  idempotencyTtlMs: number;
  /** On SIGTERM, how long in-flight requests and running jobs get to finish. */
  shutdownTimeoutMs: number;
  queuePrefix: string;
  workerConcurrency: number;
  /** How long a job's lock lasts without renewal: a dead worker's job is retried after this. */
  workerLockMs: number;
  /** A worker serves its own Prometheus /metrics (job time per stage) on this port when set. */
  workerMetricsPort: number | null;
  /** Largest request body in bytes (model uploads included). */
  bodyLimit: number;
  requestTimeoutMs: number;
  /** Requests per minute per key. */
  rateLimit: number;
  /** Empty means open development mode: every caller is admin of tenant "default". */
  apiKeys: ApiKey[];
}

const ROLES: Role[] = ['prover', 'verifier', 'admin', 'contributor'];

/** Reads the config, reporting every problem at once. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const int = (name: string, dflt: number, min: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return dflt;
    const v = Number(raw);
    if (!Number.isInteger(v) || v < min) {
      problems.push(`${name} must be an integer >= ${min} (got "${raw}")`);
      return dflt;
    }
    return v;
  };
  const apiKeys: ApiKey[] = [];
  for (const entry of (env.ZKINFER_API_KEYS ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([^=]{16,})=(prover|verifier|admin|contributor):([A-Za-z0-9_-]+)$/.exec(entry);
    if (!m) problems.push(`ZKINFER_API_KEYS entries must look like <key of 16+ chars>=<${ROLES.join('|')}>:<tenant>`);
    else apiKeys.push({ key: m[1], role: m[2] as Role, tenant: m[3] });
  }
  const cfg: Config = {
    host: env.HOST ?? '127.0.0.1',
    port: int('PORT', 3000, 0),
    redisUrl: env.REDIS_URL || null,
    databaseUrl: env.DATABASE_URL || null,
    dbDir: env.ZKINFER_DB_DIR || null,
    reconcileIntervalMs: int('RECONCILE_INTERVAL_MS', 2000, 100),
    heartbeatStaleMs: int('WORKER_HEARTBEAT_STALE_MS', 30_000, 1000),
    jobAttempts: int('JOB_ATTEMPTS', 3, 1),
    idempotencyTtlMs: int('IDEMPOTENCY_TTL_HOURS', 24, 1) * 3600_000,
    shutdownTimeoutMs: int('SHUTDOWN_TIMEOUT_MS', 30_000, 1000),
    queuePrefix: env.ZKINFER_QUEUE_PREFIX || 'zkinfer',
    workerConcurrency: int('WORKER_CONCURRENCY', 1, 1),
    workerLockMs: int('WORKER_LOCK_MS', 30_000, 1000),
    workerMetricsPort: env.METRICS_PORT ? int('METRICS_PORT', 0, 1) : null,
    bodyLimit: int('BODY_LIMIT', 64 * 1024 * 1024, 1024),
    requestTimeoutMs: int('REQUEST_TIMEOUT_MS', 30_000, 1000),
    rateLimit: int('RATE_LIMIT_PER_MINUTE', 600, 1),
    apiKeys,
  };
  if (cfg.redisUrl && !cfg.databaseUrl) {
    problems.push('REDIS_URL needs DATABASE_URL: BullMQ workers in other processes cannot share the embedded store (unset REDIS_URL to run on the embedded store alone)');
  }
  if (problems.length) throw new ZkinferError('SETTINGS', `configuration: ${problems.join('; ')}`, 'env');
  return cfg;
}
