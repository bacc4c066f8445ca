import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClaimedJob, Records } from '../store/records.ts';
import type { JobRecords, ProcessorOptions } from './processors.ts';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { JobQueue, ReconcileReport } from './types.ts';

/** Messages between the API process and its worker process. */
export type ToWorker = { type: 'job'; job: ClaimedJob } | { type: 'stop' } | { type: 'rpc-result'; seq: number; ok: boolean; value?: unknown; error?: string };
export type FromWorker =
  | { type: 'ready' }
  | { type: 'done'; ok: boolean; unrecoverable?: boolean; error?: string; jobMetrics?: MetricObjectWithValues<MetricValue<string>> }
  | { type: 'rpc'; seq: number; method: keyof JobRecords; args: unknown[] };

/** The record methods the worker process may call over IPC: nothing else is served. */
export const WORKER_RPC: (keyof JobRecords)[] = ['getModel', 'setModelStatus', 'latestVersion', 'recordVersion', 'proofJob', 'setProofStage', 'finishProof', 'failProof', 'failModel', 'heartbeat', 'startCeremony'];

export interface EmbeddedOptions {
  /** A taken job's lease; renewed while its worker runs it. */
  leaseMs?: number;
  maxAttempts?: number;
  /**
   * This process owns the database (the embedded PGlite store): every running job at
   * start was left by a process that died, and goes back to the queue at once.
   */
  ownsStore: boolean;
  /** Start the worker process now (false: only when `start()` is called). */
  autoStart?: boolean;
  log?: (m: string) => void;
  /** Limits the worker process applies (the API's own, so a job is checked as its upload was). */
  worker?: ProcessorOptions;
}

/**
 * The embedded queue: the database rows are the jobs. This process takes the oldest queued
 * one with a lease (`FOR UPDATE SKIP LOCKED`) and hands it to its worker process over IPC;
 * the worker proves off this process's event loop and reads and writes records through
 * this process (PGlite has one connection, held here). A job whose worker dies goes back
 * to the queue, and is failed after `maxAttempts` takes. A restart resumes every accepted
 * job from the store.
 */
/** How the embedded worker process gets its ProcessorOptions. */
export const WORKER_OPTIONS_ENV = 'ZKINFER_EMBEDDED_WORKER_OPTIONS';

export class LocalJobQueue implements JobQueue {
  readonly kind = 'embedded';
  private child: ChildProcess | null = null;
  private childReady = false;
  private current: ClaimedJob | null = null;
  /** The worker process's job-time histogram, as of its last job (cumulative in that process). */
  private lastJobMetrics: MetricObjectWithValues<MetricValue<string>> | null = null;

  /** Time per job stage from the worker process, for the API's /metrics. */
  jobMetrics(): MetricObjectWithValues<MetricValue<string>> | null {
    return this.lastJobMetrics;
  }
  private pumping = false;
  private closing = false;
  private started = false;
  private restartTimer: NodeJS.Timeout | null = null;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly leaseMs: number;
  private readonly maxAttempts: number;
  private readonly log: (m: string) => void;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    private readonly records: Records,
    private readonly opts: EmbeddedOptions,
  ) {
    this.leaseMs = opts.leaseMs ?? 30_000;
    this.maxAttempts = opts.maxAttempts ?? 3;
    this.log = opts.log ?? ((m) => process.stderr.write(`${m}\n`));
    if (opts.autoStart !== false) this.start().catch((e: Error) => this.log(`embedded queue did not start: ${e.message}`));
  }

  /** Resumes jobs left running by a dead process (own store), starts the worker, polls. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    if (this.opts.ownsStore) {
      for (const job of await this.records.expiredLeases(true)) {
        await this.records.releaseJob(job, null, 'the service stopped while the job ran', this.maxAttempts, 0);
      }
    }
    this.spawn();
    this.timers.push(setInterval(() => void this.pump(), 1000));
    this.timers.push(setInterval(() => void this.renew(), Math.max(1000, Math.floor(this.leaseMs / 3))));
    for (const t of this.timers) t.unref();
  }

  private spawn(): void {
    if (this.closing) return;
    const entry = path.join(path.dirname(fileURLToPath(import.meta.url)), 'local-worker.ts');
    const child = fork(entry, [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, [WORKER_OPTIONS_ENV]: JSON.stringify(this.opts.worker ?? {}) },
    });
    this.child = child;
    this.childReady = false;
    child.on('message', (m: FromWorker) => void this.onMessage(child, m));
    child.on('error', () => {});
    // Resolves once the job it held is back in the store, so close() can close the store after.
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => void this.onExit(child, code, signal).finally(resolve)));
  }

  private async onMessage(child: ChildProcess, m: FromWorker): Promise<void> {
    if (m.type === 'ready') {
      this.childReady = true;
      void this.pump();
    } else if (m.type === 'rpc') {
      let reply: ToWorker;
      try {
        if (!WORKER_RPC.includes(m.method)) throw new Error(`${String(m.method)} is not served to workers`);
        const fn = this.records[m.method] as (...a: unknown[]) => Promise<unknown>;
        reply = { type: 'rpc-result', seq: m.seq, ok: true, value: await fn.apply(this.records, m.args) };
      } catch (e) {
        reply = { type: 'rpc-result', seq: m.seq, ok: false, error: (e as Error).message };
      }
      if (child.connected) child.send(reply, () => {});
    } else if (m.type === 'done') {
      if (m.jobMetrics) this.lastJobMetrics = m.jobMetrics;
      const job = this.current;
      this.current = null;
      if (job) {
        // A retryable error leaves the record open: back to the queue with a backoff.
        const backoff = 2000;
        if (!m.ok && !m.unrecoverable) this.log(`${job.kind} ${job.id}: ${m.error ?? 'failed'} (will retry)`);
        await this.records.releaseJob(job, this.owner, m.error ?? 'the job did not finish', this.maxAttempts, backoff).catch((e: Error) => this.log(`releasing ${job.id}: ${e.message}`));
      }
      void this.pump();
    }
  }

  private async onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    if (this.child !== child) return;
    this.child = null;
    this.childReady = false;
    const job = this.current;
    this.current = null;
    if (job) {
      const why = this.closing ? 'the service stopped while the job ran' : `the worker process died (${signal ?? `exit code ${code}`}) while running it`;
      const outcome = await this.records.releaseJob(job, this.owner, why, this.closing ? Number.MAX_SAFE_INTEGER : this.maxAttempts, this.closing ? 0 : 500).catch(() => 'unknown');
      if (!this.closing) this.log(`${job.kind} ${job.id}: ${why}; ${outcome}`);
    }
    if (!this.closing) {
      this.restartTimer = setTimeout(() => this.spawn(), 200);
    }
  }

  private async renew(): Promise<void> {
    const job = this.current;
    if (job) await this.records.renewLease(job, this.owner, this.leaseMs).catch(() => {});
  }

  /** Hands the next queued job to the worker when it is idle. */
  private async pump(): Promise<void> {
    if (this.pumping || this.closing || !this.child || !this.childReady || this.current) return;
    this.pumping = true;
    try {
      const job = await this.records.claimNext(this.owner, this.leaseMs);
      if (!job) return;
      const child = this.child;
      if (!child || !child.connected || this.closing) {
        await this.records.releaseJob(job, this.owner, 'not started', Number.MAX_SAFE_INTEGER, 0);
        return;
      }
      this.current = job;
      child.send({ type: 'job', job } satisfies ToWorker);
    } catch (e) {
      this.log(`embedded queue: ${(e as Error).message}`);
    } finally {
      this.pumping = false;
    }
  }

  accepting(): boolean {
    return !this.closing;
  }

  async enqueueCompile(): Promise<void> {
    void this.pump();
  }

  async enqueueProve(): Promise<void> {
    void this.pump();
  }

  depth() {
    return this.records.openCounts();
  }

  async ping(): Promise<boolean> {
    return this.child !== null && this.child.connected;
  }

  /** Jobs whose dispatcher stopped renewing its lease (another API process died) go back to the queue. */
  async reconcile(): Promise<ReconcileReport> {
    const report: ReconcileReport = { requeued: 0, failed: 0 };
    for (const job of await this.records.expiredLeases(false)) {
      const r = await this.records.releaseJob(job, null, 'its worker stopped renewing the lease', this.maxAttempts, 0);
      if (r === 'requeued') report.requeued++;
      if (r === 'failed') report.failed++;
    }
    return report;
  }

  /** Lets the running job finish (up to `timeoutMs`), then stops the worker process. */
  async close(timeoutMs = 30_000): Promise<void> {
    this.closing = true;
    for (const t of this.timers) clearInterval(t);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child) return;
    if (child.connected) child.send({ type: 'stop' } satisfies ToWorker, () => {});
    const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(killer);
  }
}
