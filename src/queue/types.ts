/**
 * The job queue the API hands work to. Two implementations share it: BullMQ on Redis
 * (any number of worker processes on any number of machines) and a local one that runs
 * the same processors in a child process (one machine, no Redis). Job data is ids only.
 */
export interface JobQueue {
  readonly kind: 'bullmq' | 'local';
  enqueueCompile(modelId: string): Promise<void>;
  enqueueProve(proofId: string): Promise<void>;
  /** Waiting + active jobs per queue, for /metrics. */
  depth(): Promise<{ compile: number; prove: number }>;
  /** True when the backing store answers (Redis ping, or the local worker is alive). */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export const QUEUE_NAMES = { compile: 'zkinfer-compile', prove: 'zkinfer-prove' } as const;
