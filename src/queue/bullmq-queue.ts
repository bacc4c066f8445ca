import { hostname } from 'node:os';
import { DelayedError, type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { infrastructureOf, nextOutage, type OutageState, outageLogLine, outageReason } from '../core/infra-errors.ts';
import type { Stores } from '../store/stores.ts';
import { Heartbeats } from './heartbeats.ts';
import { Leases } from './leases.ts';
import { Outbox } from './outbox.ts';
import { throttledLog } from './log-throttle.ts';
import type { Processors } from './processors.ts';
import { compileJobId, type JobKind, type JobQueue, QUEUE_NAMES, type ReconcileReport } from './types.ts';

export interface BullOptions {
  redisUrl: string;
  /** Key prefix, so tests (and tenants of one Redis) do not see each other's jobs. */
  prefix?: string;
}

/** Lowest compile priority given (BullMQ allows up to 2^21). */
const COMPILE_PRIORITY_MAX = 1000;
/** A compile whose tenant is at its limit is tried again after this. */
const TENANT_BUSY_DELAY_MS = 2000;

/** BullMQ retries a job this often; the reconciler writes the final failure to the record. */
export const JOB_OPTIONS = { attempts: 3, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: 1000, removeOnFail: 10_000 } as const;

/**
 * The API's Redis client (queue producer, rate limits): fails fast while Redis is down
 * (no offline queue), so a request gets a 503 at once instead of hanging.
 */
export function redisConnection(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableOfflineQueue: false, connectTimeout: 2000, retryStrategy: (n) => Math.min(2000, 100 * n) });
}

/**
 * A worker's Redis client, per BullMQ's production guidance: commands wait through an
 * outage (offline queue on, no per-request retry limit) and the client reconnects by
 * itself however long the outage lasts.
 */
export function workerRedisConnection(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableOfflineQueue: true, connectTimeout: 5000, retryStrategy: (n) => Math.min(2000, 100 * n) });
}

export class BullJobQueue implements JobQueue {
  readonly kind = 'bullmq';
  private readonly connection: Redis;
  private readonly queues: Record<JobKind, Queue>;
  private readonly outbox: Outbox;

  constructor(
    private readonly opts: BullOptions,
    private readonly stores: Stores,
    private readonly log: (m: string) => void = (m) => process.stderr.write(`${m}\n`),
  ) {
    this.outbox = new Outbox(stores.db);
    this.connection = redisConnection(opts.redisUrl);
    this.connection.on('error', () => {}); // reported through ping(), accepting() and enqueue failures
    const prefix = opts.prefix ?? 'zkinfer';
    this.queues = {
      compile: new Queue(QUEUE_NAMES.compile, { connection: this.connection, prefix }),
      prove: new Queue(QUEUE_NAMES.prove, { connection: this.connection, prefix }),
    };
    for (const q of Object.values(this.queues)) q.on('error', () => {});
  }

  accepting(): boolean {
    return this.connection.status === 'ready';
  }

  private async add(kind: JobKind, tenant: string, id: string): Promise<void> {
    const jobId = kind === 'compile' ? compileJobId(tenant, id) : id;
    const q = this.queues[kind];
    // A finished job with this id would make the add a no-op: a model registered again
    // after failing, or a record the reconciler found open with its job completed.
    const old = await q.getJob(jobId);
    if (old && ((await old.isFailed()) || (await old.isCompleted()))) await old.remove();
    // Compiles are prioritized by the tenant's own backlog (BullMQ: lower runs first), so a
    // tenant's tenth upload waits behind other tenants' first ones instead of before them.
    const priority = kind === 'compile' ? Math.min(COMPILE_PRIORITY_MAX, await this.outbox.openCompiles(tenant)) : undefined;
    await q.add(kind, kind === 'compile' ? { tenant, modelId: id } : { proofId: id }, { ...JOB_OPTIONS, jobId, ...(priority ? { priority } : {}) });
    await this.outbox.markHanded(kind, tenant, id);
  }

  enqueueCompile(tenant: string, modelId: string): Promise<void> {
    return this.add('compile', tenant, modelId);
  }

  enqueueProve(proofId: string): Promise<void> {
    return this.add('prove', '', proofId);
  }

  async depth() {
    return this.outbox.openCounts();
  }

  async ping(): Promise<boolean> {
    if (this.connection.status !== 'ready') return false;
    try {
      return (await Promise.race([this.connection.ping(), new Promise<string>((_, rej) => setTimeout(() => rej(new Error('timeout')), 500))])) === 'PONG';
    } catch {
      return false;
    }
  }

  /**
   * Hands over what was committed but never enqueued (the API died in between, or Redis
   * was down), re-adds open records whose job Redis no longer has, and writes BullMQ's final
   * failures (retries exhausted, stalled too often) back to the records.
   */
  async reconcile(): Promise<ReconcileReport> {
    const report: ReconcileReport = { requeued: 0, failed: 0 };
    if (!this.accepting()) return report;
    for (const kind of ['compile', 'prove'] as const) {
      for (const r of await this.outbox.unhanded(kind, 1000, 500)) {
        await this.add(kind, r.tenant, r.id);
        report.requeued++;
      }
      for (const r of await this.outbox.openToCheck(kind, 500)) {
        const jobId = kind === 'compile' ? compileJobId(r.tenant, r.id) : r.id;
        const q = this.queues[kind];
        const state = await q.getJobState(jobId);
        // The job may have finished its record between the read above and this check.
        if ((state === 'failed' || state === 'completed' || state === 'unknown') && !(await this.outbox.isOpen(kind, r.tenant, r.id))) continue;
        if (state === 'failed') {
          const job = await q.getJob(jobId);
          const reason = `the job failed for good: ${job?.failedReason ?? 'no reason recorded'}`;
          if (kind === 'compile') await this.stores.models.fail(r.tenant, r.id, reason);
          else await this.stores.proofs.fail(r.id, reason);
          report.failed++;
        } else if (state === 'unknown' || state === 'completed') {
          // Redis lost it (restarted without persistence), or it completed without the
          // record saying so: run it again; the processor skips finished records.
          await this.add(kind, r.tenant, r.id);
          report.requeued++;
        }
      }
    }
    if (report.requeued || report.failed)
      this.log(`reconciler: ${report.requeued} job(s) handed to the queue again, ${report.failed} final failure(s) recorded`);
    return report;
  }

  async close(): Promise<void> {
    await Promise.allSettled(Object.values(this.queues).map((q) => q.close()));
    this.connection.disconnect();
  }
}

/**
 * Worker side: processes the given queues (default both) in this process until closed,
 * heartbeating in the database. A compile whose tenant already runs `compilesPerTenant`
 * compiles goes back to the queue (delayed) instead of taking the worker. Worker.close()
 * lets running jobs finish.
 */
/** A job's lock (WORKER_LOCK_MS): renewed every half of it while the job runs; a dead worker's job is taken over within 1.5 x it. */
export const DEFAULT_WORKER_LOCK_MS = 10_000;

export function startBullWorkers(
  opts: BullOptions & {
    concurrency: number;
    lockMs?: number;
    processors: Processors;
    /** The database the workers heartbeat in and mark compiles started in. */
    stores: Stores;
    heartbeatMs?: number;
    queues?: JobKind[];
    compilesPerTenant?: number;
    /** How long a job waits for an unavailable dependency before it fails (default 15 minutes). */
    outageBudgetMs?: number;
    /** Where the workers' errors go (default: stderr, one line each). */
    log?: (m: string) => void;
  },
): { name: string; close(): Promise<void> } {
  const prefix = opts.prefix ?? 'zkinfer';
  const perTenant = opts.compilesPerTenant ?? Number.MAX_SAFE_INTEGER;
  const logError = throttledLog(opts.log ?? ((m) => process.stderr.write(`worker: ${m}\n`)));
  const leases = new Leases(opts.stores.db, opts.stores.requestKeys);
  const heartbeats = new Heartbeats(opts.stores.db);
  const budgetMs = opts.outageBudgetMs ?? 15 * 60_000;
  /**
   * An error of the infrastructure (the database, the disk) spends no attempt: the job goes
   * back to the queue delayed (1 s doubling to 30 s; BullMQ's moveToDelayed skips the
   * attempt) until the dependency is back, and fails only once the outage budget is spent.
   */
  const outageAware =
    (fn: (job: Job, token?: string) => Promise<void>) =>
    async (job: Job, token?: string): Promise<void> => {
      try {
        await fn(job, token);
      } catch (e) {
        if (e instanceof DelayedError || e instanceof UnrecoverableError) throw e;
        const dependency = infrastructureOf(e);
        if (!dependency) throw e;
        const data = job.data as { outage?: OutageState };
        const o = nextOutage(data.outage, dependency, budgetMs);
        if (o.exhausted) throw new UnrecoverableError(outageReason(dependency, budgetMs, e));
        logError(outageLogLine(dependency, e));
        await job.updateData({ ...data, outage: o.state });
        await job.moveToDelayed(Date.now() + o.delayMs, token);
        throw new DelayedError();
      }
    };
  const lockMs = opts.lockMs ?? DEFAULT_WORKER_LOCK_MS;
  const mk = (name: string, fn: (job: Job, token?: string) => Promise<void>) => {
    const connection = workerRedisConnection(opts.redisUrl);
    connection.on('error', (e) => logError(`redis: ${e.message}`));
    const w = new Worker(name, fn, {
      connection,
      prefix,
      // Stored on each job it takes (processedBy): which worker holds a job, for operators.
      name: `${hostname()}:${process.pid}`,
      concurrency: opts.concurrency,
      // A running job's lock is renewed every lockMs / 2, however long the proof takes. A
      // worker that dies (kill -9) stops renewing it: it expires at most lockMs after the
      // kill, and the stall check of a live worker (every lockMs / 2) hands the job to
      // another within 1.5 x lockMs (15 s at the default); a second stall fails it for good.
      lockDuration: lockMs,
      lockRenewTime: lockMs / 2,
      stalledInterval: Math.max(500, Math.floor(lockMs / 2)),
      maxStalledCount: 1,
    });
    w.on('error', (e) => logError(e.message));
    return { w, connection };
  };
  const compile = async (job: Job, token?: string) => {
    const d = job.data as { tenant: string; modelId: string };
    if (!(await leases.startCompile(d.tenant, d.modelId, perTenant))) {
      // The tenant's compile slots are taken: wait without counting an attempt.
      await job.moveToDelayed(Date.now() + TENANT_BUSY_DELAY_MS, token);
      throw new DelayedError();
    }
    await opts.processors.compile(d.tenant, d.modelId);
  };
  const prove = async (job: Job) => opts.processors.prove((job.data as { proofId: string }).proofId);
  const queues = opts.queues ?? ['compile', 'prove'];
  const workers = queues.map((k) => (k === 'compile' ? mk(QUEUE_NAMES.compile, outageAware(compile)) : mk(QUEUE_NAMES.prove, outageAware(prove))));
  const name = `${hostname()}:${process.pid}`;
  const beat = () => heartbeats.beat(name, 'bullmq').catch((e: Error) => logError(`heartbeat: ${e.message}`));
  void beat();
  const timer = setInterval(beat, opts.heartbeatMs ?? 5000);
  return {
    name,
    close: async () => {
      clearInterval(timer);
      await Promise.all(workers.map(({ w }) => w.close()));
      for (const { connection } of workers) connection.disconnect();
      await heartbeats.forget(name).catch(() => {});
    },
  };
}

/**
 * Null when Redis keeps its data across a restart (AOF or RDB snapshots); else a sentence
 * saying it does not. Managed Redis that refuses CONFIG GET counts as unknown (null).
 */
export async function redisPersistence(redis: Redis): Promise<string | null> {
  await redis.connect().catch(() => {});
  for (let i = 0; i < 20 && redis.status !== 'ready'; i++) await new Promise((r) => setTimeout(r, 100));
  const aof = (await redis.config('GET', 'appendonly')) as string[];
  const save = (await redis.config('GET', 'save')) as string[];
  if (aof[1] === 'no' && !save[1]?.trim()) return 'Redis has no persistence (appendonly no, no RDB save)';
  return null;
}
