import type { MetricObjectWithValues, MetricValue } from 'prom-client';
/**
 * The job queue the API hands work to. Two implementations share it: BullMQ on Redis (any
 * number of worker processes on any number of machines) and the embedded one, where the
 * database rows are the jobs and a worker process of the API's runs them. Either way the
 * database is the source of truth: a job is a record in state queued, compiling or proving,
 * and the reconciler brings every such record to a live job, or to failed.
 */
export interface JobQueue {
  readonly kind: 'bullmq' | 'embedded';
  /** Hands a committed record's job to the backend; a second call for the same job is harmless. */
  enqueueCompile(tenant: string, modelId: string): Promise<void>;
  enqueueProve(proofId: string): Promise<void>;
  /** False when the backend cannot take a job right now (submissions then get a 503 at once). */
  accepting(): boolean;
  /** Open jobs per queue, for /metrics. */
  depth(): Promise<{ compile: number; prove: number }>;
  /**
   * The workers' job-time histograms (zkinfer_job_seconds), one per worker process, when the
   * API process can see them (embedded workers report theirs after each job); BullMQ
   * workers serve their own.
   */
  jobMetrics?(): MetricObjectWithValues<MetricValue<string>>[];
  /** The dependencies queued jobs wait for now (met by a job in the last minute), named for /readyz. */
  waitingFor?(): string[];
  /** True when the backend answers (Redis ping, or the embedded worker process is alive). */

  ping(): Promise<boolean>;
  /** One reconciler pass (run by one leader at a time). */
  reconcile(): Promise<ReconcileReport>;
  /** Stops taking jobs; running jobs finish (or go back to the queue) first. */
  close(): Promise<void>;
}

export interface ReconcileReport {
  /** Jobs handed to the backend again (never handed, lost by Redis, or orphaned). */
  requeued: number;
  /** Records written back as failed (retries exhausted, stalled too often). */
  failed: number;
}

export type JobKind = 'compile' | 'prove';

export const QUEUE_NAMES = { compile: 'zkinfer-compile', prove: 'zkinfer-prove' } as const;

/** BullMQ job ids: a proof's is its id; a model's names the tenant too (records are per tenant). */
export function compileJobId(tenant: string, modelId: string): string {
  return `compile-${tenant}-${modelId}`;
}
