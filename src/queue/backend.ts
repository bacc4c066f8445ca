import type { Config } from '../service/config.ts';
import type { Stores } from '../store/stores.ts';
import { BullJobQueue } from './bullmq-queue.ts';
import { LocalJobQueue } from './local-queue.ts';
import type { JobQueue } from './types.ts';

/**
 * The job queue the configuration asks for: BullMQ on Redis when REDIS_URL is set (the jobs
 * run in `npm run worker` processes), else the embedded queue, where the database rows are
 * the jobs and worker processes of this one run them.
 */
export function openQueue(
  config: Config,
  stores: Stores,
  opts: {
    /** Start the embedded queue's worker processes now (false: serve the routes only). */
    background: boolean;
    log: (m: string) => void;
  },
): JobQueue {
  const { log } = opts;
  if (config.redisUrl) return new BullJobQueue({ redisUrl: config.redisUrl, prefix: config.queuePrefix }, stores, log);
  return new LocalJobQueue(stores, {
    ownsStore: stores.db.kind === 'pglite',
    leaseMs: config.workerLockMs,
    maxAttempts: config.jobAttempts,
    outageBudgetMs: config.outageBudgetMs,
    autoStart: opts.background,
    log,
    worker: {
      limits: config.limits,
      maxPtauPower: config.maxPtauPower,
      maxRelativeError: config.maxRelativeError,
      phase1: { mode: config.mode, ptau: config.ptau, ptauSha256: config.ptauSha256, allowDevSetup: config.allowDevSetup },
    },
    compileWorkers: config.compileWorkers,
    proveWorkers: config.proveWorkers,
    compilesPerTenant: config.compilesPerTenant,
  });
}
