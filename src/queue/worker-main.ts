// `npm run worker`: process compile and prove jobs from Redis until SIGTERM/SIGINT,
// which lets the running job finish before exiting.
import { loadConfig } from '../config.ts';
import { startBullWorkers } from './bullmq-queue.ts';
import { serveWorkerMetrics } from './job-metrics.ts';

const cfg = loadConfig();
if (!cfg.redisUrl) {
  process.stderr.write('npm run worker needs REDIS_URL (without it, `npm start` runs jobs in its own worker process)\n');
  process.exit(2);
}
const workers = startBullWorkers({ redisUrl: cfg.redisUrl, prefix: cfg.queuePrefix, concurrency: cfg.workerConcurrency, lockMs: cfg.workerLockMs });
if (cfg.workerMetricsPort) serveWorkerMetrics(cfg.workerMetricsPort);
process.stderr.write(`zkinfer worker: ${cfg.workerConcurrency} job(s) at a time from ${cfg.queuePrefix} queues\n`);
let stopping = false;
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, async () => {
    if (stopping) return;
    stopping = true;
    await workers.close();
    process.exit(0);
  });
}
