// `npm run worker`: process compile and prove jobs from Redis until SIGTERM/SIGINT, which
// lets the running job finish (BullMQ's worker.close()) before exiting. Records live in
// PostgreSQL (DATABASE_URL); the worker heartbeats there for the API's /readyz.
import { loadConfig } from '../config.ts';
import { openDb } from '../store/db.ts';
import { Records } from '../store/records.ts';
import { startBullWorkers } from './bullmq-queue.ts';
import { serveWorkerMetrics } from './job-metrics.ts';
import { makeProcessors } from './processors.ts';

const cfg = loadConfig();
if (!cfg.redisUrl || !cfg.databaseUrl) {
  process.stderr.write('npm run worker needs REDIS_URL and DATABASE_URL (without them, `npm start` runs jobs in its own worker process)\n');
  process.exit(2);
}
// The metrics port first: a taken port must stop this worker before it takes a job.
const metrics = cfg.workerMetricsPort
  ? await serveWorkerMetrics(cfg.workerMetricsPort, cfg.host).catch((e: NodeJS.ErrnoException) => {
      process.stderr.write(`METRICS_PORT ${cfg.workerMetricsPort} on ${cfg.host}: ${e.code ?? e.message}; not starting\n`);
      process.exit(2);
    })
  : null;
const db = await openDb({ url: cfg.databaseUrl, poolSize: cfg.workerConcurrency * 2 + 2 });
const records = new Records(db);
const workers = startBullWorkers({
  redisUrl: cfg.redisUrl,
  prefix: cfg.queuePrefix,
  concurrency: cfg.workerConcurrency,
  lockMs: cfg.workerLockMs,
  processors: makeProcessors(records, { limits: cfg.limits, maxPtauPower: cfg.maxPtauPower }),
  records,
  queues: cfg.workerQueues,
  compilesPerTenant: cfg.compilesPerTenant,
});
process.stderr.write(`zkinfer worker ${workers.name}: ${cfg.workerConcurrency} job(s) at a time from ${cfg.queuePrefix} ${cfg.workerQueues.join(' and ')} queue(s)\n`);
let stopping = false;
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, async () => {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => process.exit(1), cfg.shutdownTimeoutMs);
    await workers.close();
    metrics?.close();
    await db.close().catch(() => {});
    clearTimeout(force);
    process.exit(0);
  });
}
