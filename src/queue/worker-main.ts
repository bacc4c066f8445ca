// `npm run worker`: process compile and prove jobs from Redis until SIGTERM/SIGINT, which
// lets the running job finish (BullMQ's worker.close()) before exiting. Records live in
// PostgreSQL (DATABASE_URL); the worker heartbeats there for the API's /readyz.
import { loadConfig } from '../service/config.ts';
import { isZkinferError, startupMessage } from '../core/errors.ts';
import { checkServicePhase1 } from '../service/phase1.ts';
import { openDb } from '../store/db.ts';
import { Stores } from '../store/stores.ts';
import { redisConnection, startBullWorkers } from './bullmq-queue.ts';
import { useConfiguredArtifacts } from '../service/artifact-mode.ts';
import { serveWorkerMetrics } from './job-metrics.ts';
import { jobRecords } from './job-records.ts';
import { makeProcessors } from './processors.ts';
import { workerLogger } from './worker-log.ts';

/**
 * A problem at startup stops the worker before it takes a job, with one line (no stack trace):
 * a settings problem, naming the setting, exit 2; a backend that cannot be reached (the database) exit 1.
 */
function refuse(e: unknown): never {
  process.stderr.write(`zkinfer worker not starting: ${startupMessage(e)}\n`);
  process.exit(isZkinferError(e) ? 2 : 1);
}
const cfg = (() => {
  try {
    return loadConfig();
  } catch (e) {
    refuse(e);
  }
})();
if (!cfg.redisUrl || !cfg.databaseUrl) {
  process.stderr.write('npm run worker needs REDIS_URL and DATABASE_URL (without them, `npm start` runs jobs in its own worker process)\n');
  process.exit(2);
}
// The same phase 1 check as the API's: every setup this worker runs uses the checked file.
const phase1 = await checkServicePhase1(cfg).catch(refuse);
// From here on the worker logs JSON, as the API does (a refusal to start above stays one plain line).
const log = workerLogger();
log[phase1.insecure ? 'warn' : 'info'](
  { phase1 },
  `zkinfer worker phase 1: ${phase1.name} (${phase1.kind}${phase1.insecure ? ', INSECURE' : ''}, ` +
    `2^${phase1.power}${phase1.sha256 ? `, sha256 ${phase1.sha256}` : ''})`,
);
// The metrics port first: a taken port must stop this worker before it takes a job.
const metrics = cfg.workerMetricsPort
  ? await serveWorkerMetrics(cfg.workerMetricsPort, cfg.host).catch((e: NodeJS.ErrnoException) => {
      process.stderr.write(`METRICS_PORT ${cfg.workerMetricsPort} on ${cfg.host}: ${e.code ?? e.message}; not starting\n`);
      process.exit(2);
    })
  : null;
const db = await openDb({ url: cfg.databaseUrl, poolSize: cfg.workerConcurrency * 2 + 2 }).catch(refuse);
const redis = redisConnection(cfg.redisUrl);
redis.on('error', () => {});
// Several machines: artifacts in the database (this node's folder a cache), request keys and receipts in Redis.
const artifacts = useConfiguredArtifacts(cfg, db, redis, (m) => log.warn(m));
log.info(`zkinfer worker artifact store: ${artifacts.store}`);
const stores = new Stores(db, { requestKeys: artifacts.requestKeys });
const workers = startBullWorkers({
  redisUrl: cfg.redisUrl,
  prefix: cfg.queuePrefix,
  concurrency: cfg.workerConcurrency,
  lockMs: cfg.workerLockMs,
  processors: makeProcessors(jobRecords(stores), {
    limits: cfg.limits,
    maxPtauPower: cfg.maxPtauPower,
    maxRelativeError: cfg.maxRelativeError,
    phase1: { mode: cfg.mode, ptau: cfg.ptau, ptauSha256: cfg.ptauSha256, allowDevSetup: cfg.allowDevSetup },
    onStage: (tenant, model, e) => log.info({ tenant, model, stage: e.stage, ...(e.detail ? { detail: e.detail } : {}) }, `model ${model}: ${e.stage}`),
  }),
  stores,
  queues: cfg.workerQueues,
  compilesPerTenant: cfg.compilesPerTenant,
  outageBudgetMs: cfg.outageBudgetMs,
  log: (m) => log.error(m),
});
log.info(`zkinfer worker ${workers.name}: ${cfg.workerConcurrency} job(s) at a time from ${cfg.queuePrefix} ${cfg.workerQueues.join(' and ')} queue(s)`);
let stopping = false;
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, async () => {
    if (stopping) return;
    stopping = true;
    log.info(`${sig}: finishing the running jobs`);
    const force = setTimeout(() => process.exit(1), cfg.shutdownTimeoutMs);
    await workers.close();
    metrics?.close();
    await db.close().catch(() => {});
    redis.disconnect();
    clearTimeout(force);
    process.exit(0);
  });
}
