import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { processCompile, processProve } from './processors.ts';
import { type JobQueue, QUEUE_NAMES } from './types.ts';

export interface BullOptions {
  redisUrl: string;
  /** Key prefix, so tests (and tenants of one Redis) do not see each other's jobs. */
  prefix?: string;
}

const JOB_OPTIONS = { attempts: 3, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: 1000, removeOnFail: 1000 } as const;

export function redisConnection(url: string): Redis {
  // BullMQ needs maxRetriesPerRequest null for blocking commands; fail fast when Redis is down.
  return new Redis(url, { maxRetriesPerRequest: null, enableOfflineQueue: false, connectTimeout: 2000 });
}

export class BullJobQueue implements JobQueue {
  readonly kind = 'bullmq';
  private readonly connection: Redis;
  private readonly compile: Queue;
  private readonly prove: Queue;

  constructor(private readonly opts: BullOptions) {
    this.connection = redisConnection(opts.redisUrl);
    this.connection.on('error', () => {}); // reported through ping() / enqueue failures
    const prefix = opts.prefix ?? 'zkinfer';
    this.compile = new Queue(QUEUE_NAMES.compile, { connection: this.connection, prefix });
    this.prove = new Queue(QUEUE_NAMES.prove, { connection: this.connection, prefix });
    for (const q of [this.compile, this.prove]) q.on('error', () => {}); // surfaced by enqueue and ping
  }

  async enqueueCompile(modelId: string): Promise<void> {
    // jobId = model id: a second upload of the same model is the same job while it runs;
    // a finished job with that id is removed first, or the new one would be ignored.
    const old = await this.compile.getJob(modelId);
    if (old && ((await old.isFailed()) || (await old.isCompleted()))) await old.remove();
    await this.compile.add('compile', { modelId }, { ...JOB_OPTIONS, jobId: modelId });
  }

  async enqueueProve(proofId: string): Promise<void> {
    await this.prove.add('prove', { proofId }, { ...JOB_OPTIONS, jobId: proofId });
  }

  async depth() {
    const [c, p] = await Promise.all([this.compile.getJobCounts('waiting', 'active', 'delayed'), this.prove.getJobCounts('waiting', 'active', 'delayed')]);
    const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
    return { compile: sum(c), prove: sum(p) };
  }

  async ping(): Promise<boolean> {
    try {
      return (await Promise.race([this.connection.ping(), new Promise<string>((_, rej) => setTimeout(() => rej(new Error('timeout')), 500))])) === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.compile.close(), this.prove.close()]);
    this.connection.disconnect();
  }
}

/** Worker side: processes both queues in this process until closed. */
export function startBullWorkers(opts: BullOptions & { concurrency: number; lockMs?: number }): { close(): Promise<void> } {
  const prefix = opts.prefix ?? 'zkinfer';
  const mk = (name: string, fn: (id: string) => Promise<void>, key: 'modelId' | 'proofId') =>
    new Worker(name, async (job) => fn(job.data[key] as string), {
      connection: redisConnection(opts.redisUrl),
      prefix,
      concurrency: opts.concurrency,
      // A worker that dies (kill -9) stops renewing its lock; after lockMs its job counts
      // as stalled and another worker takes it over.
      lockDuration: opts.lockMs ?? 30_000,
      stalledInterval: opts.lockMs ?? 30_000,
    });
  const workers = [mk(QUEUE_NAMES.compile, processCompile, 'modelId'), mk(QUEUE_NAMES.prove, processProve, 'proofId')];
  for (const w of workers) w.on('error', (e) => process.stderr.write(`worker error: ${e.message}\n`));
  return {
    // Worker.close() waits for the running job to finish.
    close: async () => {
      await Promise.all(workers.map((w) => w.close()));
    },
  };
}
