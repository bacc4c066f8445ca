import { existsSync } from 'node:fs';
import path from 'node:path';
import { ZkinferError } from '../core/errors.ts';
import { type ModelLimits, modelLimitsFromEnv } from '../model/limits.ts';
import { maxPtauPowerFromEnv } from '../prover/ptau.ts';
import { DEFAULT_MAX_RELATIVE_ERROR } from '../quant/fidelity.ts';

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
  /**
   * ZKINFER_ARTIFACT_STORE: where artifacts other processes wrote are found. 'local': the
   * artifacts folder (shared by every process); 'postgres': the database, the folder being
   * this node's cache (machines with their own disks; needs DATABASE_URL and REDIS_URL).
   * Unset: local.
   */
  artifactStore: 'local' | 'postgres' | null;
  /** ZKINFER_CACHE_MB: the local cache of a shared artifact store is trimmed (least recently used first) to this size. */
  artifactCacheBytes: number;
  /** How often the reconciler brings every open record to a live job. */
  reconcileIntervalMs: number;
  /** /readyz is not ready when no worker heartbeat is younger than this. */
  heartbeatStaleMs: number;
  /** How many times a job is taken before it is failed (worker deaths included). */
  jobAttempts: number;
  /**
   * OUTAGE_BUDGET_SECONDS: how long a job waits (with backoff, no attempt spent) for an
   * unavailable dependency (database, Redis, the artifacts disk) before it fails.
   */
  outageBudgetMs: number;
  /** How long an Idempotency-Key stays bound to its proof. */
  idempotencyTtlMs: number;
  /** On SIGTERM, how long in-flight requests and running jobs get to finish. */
  shutdownTimeoutMs: number;
  queuePrefix: string;
  workerConcurrency: number;
  /** Embedded queue: worker processes for compile/setup jobs, and for proofs. */
  compileWorkers: number;
  proveWorkers: number;
  /** Compile/setup jobs of one tenant running at once, at most (both queue backends). */
  compilesPerTenant: number;
  /** `npm run worker`: which BullMQ queues this process takes jobs from. */
  workerQueues: ('compile' | 'prove')[];
  /** A job lock (renewed every half of it while the job runs): a dead worker's job is taken over within 1.5 x this. */
  workerLockMs: number;
  /** A worker serves its own Prometheus /metrics (job time per stage) on this port when set. */
  workerMetricsPort: number | null;
  /** Largest JSON body in bytes of a route without its own limit (uploads use `limits.maxModelBytes`). */
  bodyLimit: number;
  /** Largest body of POST /v1/verify. */
  verifyBodyLimit: number;
  /** Largest body of POST /v1/models/:id/proofs. */
  proofBodyLimit: number;
  requestTimeoutMs: number;
  /** Requests per minute per API key (per IP address without one). */
  rateLimit: number;
  /** Failed authentications per minute per IP address; past it every request from it is a 429. */
  authFailureLimit: number;
  /** What one uploaded model may spend (ZKINFER_MAX_*): the upload and the worker apply the same. */
  limits: ModelLimits;
  /** Largest powers of tau generated or used without an operator's file (ZKINFER_MAX_PTAU_POWER). */
  maxPtauPower: number;
  /** A compile's fidelity report warns above this relative error on the outputs (ZKINFER_MAX_RELATIVE_ERROR, a fraction; 0.01). */
  maxRelativeError: number;
  /**
   * ZKINFER_MODE. 'production': the service refuses to start when its setups would use a
   * development powers of tau (no ZKINFER_PTAU, or a development file), unless
   * `allowDevSetup`. 'development' (default): without ZKINFER_PTAU, development files are used.
   */
  mode: 'production' | 'development';
  /** ZKINFER_PTAU: the operator's powers-of-tau file (absolute path), used for every setup and ceremony. */
  ptau: string | null;
  /** ZKINFER_PTAU_SHA256: the sha256 the operator pins for a ptau that is not a known public ceremony file. */
  ptauSha256: string | null;
  /** ZKINFER_ALLOW_DEV_SETUP: production mode may start on a development powers of tau (setups then say development, insecure). */
  allowDevSetup: boolean;
  /** How long an applicant's receipt is kept after its proof is done; then it is deleted. */
  receiptTtlMs: number;
  /** /metrics and /docs are served on this port only (not on the API's) when set. */
  adminPort: number | null;
  /** False: /metrics and /docs need an API key (any role) on the API port. */
  publicDocs: boolean;
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
  const bool = (name: string, dflt: boolean): boolean => {
    const raw = env[name];
    if (raw === undefined || raw === '') return dflt;
    if (raw === 'true' || raw === 'false') return raw === 'true';
    problems.push(`${name} must be true or false (got "${raw.slice(0, 40)}")`);
    return dflt;
  };
  const fraction = (name: string, dflt: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return dflt;
    const v = Number(raw);
    if (!(v > 0 && v < 1)) {
      problems.push(`${name} must be a fraction between 0 and 1, e.g. 0.01 (got "${raw.slice(0, 40)}")`);
      return dflt;
    }
    return v;
  };
  const modelLimits = modelLimitsFromEnv(env);
  problems.push(...modelLimits.problems);
  const ptau = maxPtauPowerFromEnv(env);
  problems.push(...ptau.problems);
  const phase1 = phase1Settings(env, problems);
  const apiKeys: ApiKey[] = [];
  for (const entry of (env.ZKINFER_API_KEYS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
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
    artifactStore: storeKind(env.ZKINFER_ARTIFACT_STORE, problems),
    artifactCacheBytes: int('ZKINFER_CACHE_MB', 10_240, 64) * 1024 * 1024,
    reconcileIntervalMs: int('RECONCILE_INTERVAL_MS', 2000, 100),
    heartbeatStaleMs: int('WORKER_HEARTBEAT_STALE_MS', 30_000, 1000),
    jobAttempts: int('JOB_ATTEMPTS', 3, 1),
    outageBudgetMs: int('OUTAGE_BUDGET_SECONDS', 900, 1) * 1000,
    idempotencyTtlMs: int('IDEMPOTENCY_TTL_HOURS', 24, 1) * 3600_000,
    shutdownTimeoutMs: int('SHUTDOWN_TIMEOUT_MS', 30_000, 1000),
    queuePrefix: env.ZKINFER_QUEUE_PREFIX || 'zkinfer',
    workerConcurrency: int('WORKER_CONCURRENCY', 1, 1),
    compileWorkers: int('COMPILE_WORKERS', 1, 1),
    proveWorkers: int('PROVE_WORKERS', 1, 1),
    compilesPerTenant: int('COMPILES_PER_TENANT', 1, 1),
    workerQueues: workerQueues(env.WORKER_QUEUES, problems),
    workerLockMs: int('WORKER_LOCK_MS', 10_000, 1000),
    workerMetricsPort: env.METRICS_PORT ? int('METRICS_PORT', 0, 1) : null,
    bodyLimit: int('BODY_LIMIT', 1024 * 1024, 1024),
    verifyBodyLimit: int('VERIFY_BODY_LIMIT', 256 * 1024, 1024),
    proofBodyLimit: int('PROOF_BODY_LIMIT', 256 * 1024, 1024),
    requestTimeoutMs: int('REQUEST_TIMEOUT_MS', 30_000, 1000),
    rateLimit: int('RATE_LIMIT_PER_MINUTE', 600, 1),
    authFailureLimit: int('AUTH_FAILURES_PER_MINUTE', 20, 1),
    limits: modelLimits.limits,
    maxPtauPower: ptau.maxPtauPower,
    maxRelativeError: fraction('ZKINFER_MAX_RELATIVE_ERROR', DEFAULT_MAX_RELATIVE_ERROR),
    ...phase1,
    receiptTtlMs: int('RECEIPT_TTL_SECONDS', 24 * 3600, 1) * 1000,
    adminPort: env.ADMIN_PORT ? int('ADMIN_PORT', 0, 1) : null,
    publicDocs: bool('PUBLIC_DOCS', true),
    apiKeys,
  };
  if (cfg.adminPort !== null && cfg.adminPort === cfg.port) problems.push(`ADMIN_PORT must differ from PORT (both ${cfg.port})`);
  if (cfg.redisUrl && !cfg.databaseUrl) {
    problems.push(
      'REDIS_URL needs DATABASE_URL: BullMQ workers in other processes cannot share the embedded store (unset REDIS_URL to run on the embedded store alone)',
    );
  }
  if (cfg.artifactStore === 'postgres' && !cfg.databaseUrl) problems.push('ZKINFER_ARTIFACT_STORE=postgres needs DATABASE_URL');
  if (problems.length) throw new ZkinferError('SETTINGS', `configuration: ${problems.join('; ')}`, 'env');
  return cfg;
}

function storeKind(value: string | undefined, problems: string[]): Config['artifactStore'] {
  const v = value?.trim() ?? '';
  if (v === '') return null;
  if (v === 'local' || v === 'postgres') return v;
  problems.push(`ZKINFER_ARTIFACT_STORE must be local or postgres (got "${v.slice(0, 40)}")`);
  return null;
}

/**
 * The artifact store a process uses: as configured, else the database when the service runs
 * on several machines (BullMQ on Redis, records in PostgreSQL), else the local folder.
 */
export function artifactStoreKind(cfg: Pick<Config, 'artifactStore' | 'redisUrl' | 'databaseUrl'>): 'local' | 'postgres' {
  return cfg.artifactStore ?? 'local';
}

export const PHASE1_ENV = { mode: 'ZKINFER_MODE', ptau: 'ZKINFER_PTAU', ptauSha256: 'ZKINFER_PTAU_SHA256', allowDevSetup: 'ZKINFER_ALLOW_DEV_SETUP' } as const;

/** What to set for a production phase 1: named in every refusal. */
export const PRODUCTION_PTAU_HINT =
  `set ${PHASE1_ENV.ptau} to a public ceremony file (e.g. powersOfTau28_hez_final_16.ptau, recognised by its hash) ` +
  `or to your own file pinned with ${PHASE1_ENV.ptauSha256}=<its sha256>; or set ${PHASE1_ENV.allowDevSetup}=true to ` +
  `run on an insecure development setup anyway`;

/**
 * ZKINFER_MODE, ZKINFER_PTAU, ZKINFER_PTAU_SHA256, ZKINFER_ALLOW_DEV_SETUP: what can be told
 * without reading the file. The file itself (a ptau, its hash recognised or pinned, not a
 * development file in production) is checked at start by `checkServicePhase1`.
 */
function phase1Settings(env: NodeJS.ProcessEnv, problems: string[]): Pick<Config, 'mode' | 'ptau' | 'ptauSha256' | 'allowDevSetup'> {
  const rawMode = env[PHASE1_ENV.mode]?.trim() ?? '';
  let mode: Config['mode'] = 'development';
  if (rawMode === 'production' || rawMode === 'development') mode = rawMode;
  else if (rawMode !== '') problems.push(`${PHASE1_ENV.mode} must be production or development (got "${rawMode.slice(0, 40)}")`);
  const rawAllow = env[PHASE1_ENV.allowDevSetup]?.trim() ?? '';
  if (rawAllow !== '' && rawAllow !== 'true' && rawAllow !== 'false')
    problems.push(`${PHASE1_ENV.allowDevSetup} must be true or false (got "${rawAllow.slice(0, 40)}")`);
  const allowDevSetup = rawAllow === 'true';
  const rawPtau = env[PHASE1_ENV.ptau]?.trim() ?? '';
  const ptau = rawPtau ? path.resolve(rawPtau) : null;
  if (ptau && !existsSync(ptau)) problems.push(`${PHASE1_ENV.ptau} names a file that does not exist (${rawPtau.slice(0, 200)})`);
  const rawPin = env[PHASE1_ENV.ptauSha256]?.trim() ?? '';
  let ptauSha256: string | null = null;
  if (rawPin !== '') {
    const pin = rawPin.toLowerCase().replace(/^0x/, '');
    if (!/^[0-9a-f]{64}$/.test(pin)) problems.push(`${PHASE1_ENV.ptauSha256} must be a sha256 of 64 hex digits (got "${rawPin.slice(0, 80)}")`);
    else if (!ptau) problems.push(`${PHASE1_ENV.ptauSha256} pins a file, but ${PHASE1_ENV.ptau} is not set`);
    else ptauSha256 = pin;
  }
  if (mode === 'production' && !ptau && !allowDevSetup) {
    problems.push(
      `${PHASE1_ENV.mode}=production refuses to set models up on the insecure development powers of tau, and ` +
        `${PHASE1_ENV.ptau} is not set: ${PRODUCTION_PTAU_HINT}`,
    );
  }
  return { mode, ptau, ptauSha256, allowDevSetup };
}

/** WORKER_QUEUES: a comma-separated subset of compile, prove (default both). */
function workerQueues(value: string | undefined, problems: string[]): ('compile' | 'prove')[] {
  if (!value?.trim()) return ['compile', 'prove'];
  const names = [
    ...new Set(
      value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  ];
  const bad = names.filter((n) => n !== 'compile' && n !== 'prove');
  if (bad.length || !names.length) {
    problems.push(`WORKER_QUEUES must list compile and/or prove, comma-separated (got "${value}")`);
    return ['compile', 'prove'];
  }
  return names as ('compile' | 'prove')[];
}
