import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { DEPENDENCY_NAMES, type Dependency, infrastructureOf, nextOutage, type OutageState, outageLogLine, outageReason } from '../core/infra-errors.ts';
import type { Stores } from '../store/stores.ts';
import { throttledLog } from './log-throttle.ts';
import { type JobRecords, jobRecords } from './job-records.ts';
import { type ClaimedJob, Leases } from './leases.ts';
import { Outbox } from './outbox.ts';
import type { ProcessorOptions } from './processors.ts';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { JobKind, JobQueue, ReconcileReport } from './types.ts';
import { sourceFile } from '../core/package-root.ts';

/** Messages between the API process and its worker process. */
export type ToWorker =
  { type: 'job'; job: ClaimedJob } | { type: 'stop' } | { type: 'rpc-result'; seq: number; ok: boolean; value?: unknown; error?: string; infra?: Dependency };
export type FromWorker =
  | { type: 'ready' }
  | { type: 'done'; ok: boolean; unrecoverable?: boolean; infra?: Dependency; error?: string; jobMetrics?: MetricObjectWithValues<MetricValue<string>> }
  | { type: 'rpc'; seq: number; method: keyof JobRecords; args: unknown[] };

/** The record methods the worker process may call over IPC: nothing else is served. */
export const WORKER_RPC: (keyof JobRecords)[] = [
  'getModel',
  'modelCalibration',
  'dropModelCalibration',
  'setModelStatus',
  'addModelStage',
  'latestVersion',
  'recordVersion',
  'proofJob',
  'setProofStage',
  'finishProof',
  'failProof',
  'failModel',
  'heartbeat',
  'startCeremony',
];

export interface EmbeddedOptions {
  /** A taken job's lease; renewed while its worker runs it. */
  leaseMs?: number;
  maxAttempts?: number;
  /**
   * This process owns the database (the embedded PGlite store): every running job at
   * start was left by a process that died, and goes back to the queue at once.
   */
  ownsStore: boolean;
  /** Start the worker processes now (false: only when `start()` is called). */
  autoStart?: boolean;
  log?: (m: string) => void;
  /** Limits the worker processes apply (the API's own, so a job is checked as its upload was). */
  worker?: ProcessorOptions;
  /** Worker processes for compile/setup jobs (default 1). */
  compileWorkers?: number;
  /** Worker processes for proofs (default 1). */
  proveWorkers?: number;
  /** Compile jobs of one tenant running at once, at most (default 1). */
  compilesPerTenant?: number;
  /** How long a job waits for an unavailable dependency (database, disk) before it fails (default 15 minutes). */
  outageBudgetMs?: number;
}

/**
 * One worker process and the job it holds. Compile lanes take only compile/setup jobs and
 * prove lanes only proofs, so a long compile never delays a proof of a ready model.
 */
class Lane {
  child: ChildProcess | null = null;
  ready = false;
  current: ClaimedJob | null = null;
  restartTimer: NodeJS.Timeout | null = null;
  exited: Promise<void> = Promise.resolve();
  constructor(
    readonly kind: JobKind,
    readonly index: number,
  ) {}
}

/**
 * The embedded queue: the database rows are the jobs. This process takes the oldest queued
 * one with a lease (`FOR UPDATE SKIP LOCKED`) and hands it to one of its worker processes
 * over IPC; the workers prove off this process's event loop and read and write records
 * through this process (PGlite has one connection, held here). Compile/setup jobs and
 * proofs run in separate worker processes (lanes); compiles are taken round-robin across
 * tenants with at most `compilesPerTenant` of one tenant at once. A job whose worker dies
 * goes back to the queue, and is failed after `maxAttempts` takes. A restart resumes every
 * accepted job from the store.
 */
/** How the embedded worker process gets its ProcessorOptions. */
export const WORKER_OPTIONS_ENV = 'ZKINFER_EMBEDDED_WORKER_OPTIONS';

export class LocalJobQueue implements JobQueue {
  readonly kind = 'embedded';
  private readonly lanes: Lane[];
  /** Each worker process's job-time histogram, as of its last job (cumulative in that process). */
  private readonly laneMetrics = new Map<string, MetricObjectWithValues<MetricValue<string>>>();

  /** Time per job stage from the worker processes, for the API's /metrics. */
  jobMetrics(): MetricObjectWithValues<MetricValue<string>>[] {
    return [...this.laneMetrics.values()];
  }
  private pumping = false;
  private pumpAgain = false;
  private closing = false;
  private started = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly leaseMs: number;
  private readonly maxAttempts: number;
  private readonly perTenant: number;
  private readonly outageBudgetMs: number;
  /** Jobs that met an unavailable dependency, by kind and id: they wait without spending attempts. */
  private readonly outages = new Map<string, OutageState>();
  /** Jobs whose release waits for the database: their lease stays renewed, the reconciler leaves them. */
  private readonly held = new Map<string, ClaimedJob>();
  private readonly log: (m: string) => void;
  private readonly logOnce: (m: string) => void;
  private readonly leases: Leases;
  private readonly outbox: Outbox;
  /** What the worker processes call over IPC. */
  private readonly records: JobRecords;

  constructor(
    stores: Stores,
    private readonly opts: EmbeddedOptions,
  ) {
    this.leases = new Leases(stores.db, stores.requestKeys);
    this.outbox = new Outbox(stores.db);
    this.records = jobRecords(stores);
    this.leaseMs = opts.leaseMs ?? 30_000;
    this.maxAttempts = opts.maxAttempts ?? 3;
    this.perTenant = opts.compilesPerTenant ?? 1;
    this.outageBudgetMs = opts.outageBudgetMs ?? 15 * 60_000;
    this.log = opts.log ?? ((m) => process.stderr.write(`${m}\n`));
    this.logOnce = throttledLog(this.log);
    this.lanes = [
      ...Array.from({ length: Math.max(1, opts.compileWorkers ?? 1) }, (_, i) => new Lane('compile', i)),
      ...Array.from({ length: Math.max(1, opts.proveWorkers ?? 1) }, (_, i) => new Lane('prove', i)),
    ];
    if (opts.autoStart !== false) this.start().catch((e: Error) => this.log(`embedded queue did not start: ${e.message}`));
  }

  /** Resumes jobs left running by a dead process (own store), starts the workers, polls. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    if (this.opts.ownsStore) {
      for (const job of await this.leases.expired(true)) {
        await this.leases.release(job, null, 'the service stopped while the job ran', this.maxAttempts, 0);
      }
    }
    for (const lane of this.lanes) this.spawn(lane);
    this.timers.push(setInterval(() => void this.pump(), 1000));
    this.timers.push(setInterval(() => void this.renew(), Math.max(1000, Math.floor(this.leaseMs / 3))));
    for (const t of this.timers) t.unref();
  }

  private spawn(lane: Lane): void {
    if (this.closing) return;
    const entry = sourceFile('queue', 'local-worker.ts');
    const child = fork(entry, [lane.kind], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, [WORKER_OPTIONS_ENV]: JSON.stringify(this.opts.worker ?? {}) },
    });
    lane.child = child;
    lane.ready = false;
    child.on('message', (m: FromWorker) => void this.onMessage(lane, child, m));
    child.on('error', () => {});
    // Resolves once the job it held is back in the store, so close() can close the store after.
    lane.exited = new Promise((resolve) => child.once('exit', (code, signal) => void this.onExit(lane, child, code, signal).finally(resolve)));
  }

  private async onMessage(lane: Lane, child: ChildProcess, m: FromWorker): Promise<void> {
    if (m.type === 'ready') {
      lane.ready = true;
      void this.pump();
    } else if (m.type === 'rpc') {
      let reply: ToWorker;
      try {
        if (!WORKER_RPC.includes(m.method)) throw new Error(`${String(m.method)} is not served to workers`);
        const fn = this.records[m.method] as (...a: unknown[]) => Promise<unknown>;
        reply = { type: 'rpc-result', seq: m.seq, ok: true, value: await fn.apply(this.records, m.args) };
      } catch (e) {
        reply = { type: 'rpc-result', seq: m.seq, ok: false, error: (e as Error).message, infra: infrastructureOf(e) ?? undefined };
      }
      if (child.connected) child.send(reply, () => {});
    } else if (m.type === 'done') {
      if (m.jobMetrics) this.laneMetrics.set(`${lane.kind}-${lane.index}`, m.jobMetrics);
      const job = lane.current;
      lane.current = null;
      if (job && m.infra && !m.ok && !m.unrecoverable) await this.waitOutage(job, m.infra, m.error ?? 'unavailable');
      else if (job) {
        this.outages.delete(jobKey(job));
        // A retryable error leaves the record open: back to the queue with a backoff.
        const backoff = 2000;
        if (!m.ok && !m.unrecoverable) this.log(`${job.kind} ${job.id}: ${m.error ?? 'failed'} (will retry)`);
        await this.releaseHeld(job, m.error ?? 'the job did not finish', this.maxAttempts, backoff);
      }
      void this.pump();
    }
  }

  /**
   * A job that met an unavailable dependency goes back to the queue without spending the
   * attempt its take counted, after a backoff (1 s doubling to 30 s); past the outage budget
   * it fails with a reason naming the dependency.
   */
  private async waitOutage(job: ClaimedJob, dependency: Dependency, error: string): Promise<void> {
    const o = nextOutage(this.outages.get(jobKey(job)), dependency, this.outageBudgetMs);
    if (o.exhausted) {
      this.outages.delete(jobKey(job));
      await this.releaseHeld(job, outageReason(dependency, this.outageBudgetMs, new Error(error)), 0, 0);
      return;
    }
    this.outages.set(jobKey(job), o.state);
    this.logOnce(outageLogLine(dependency, new Error(error)));
    await this.releaseHeld(job, error, Number.MAX_SAFE_INTEGER, o.delayMs, true);
  }

  /**
   * Releases a job; while the database cannot be written, the job stays held by this
   * process (its lease renewed when possible) and the release is tried again every second.
   */
  private async releaseHeld(job: ClaimedJob, reason: string, maxAttempts: number, retryInMs: number, refund = false): Promise<void> {
    const key = jobKey(job);
    for (let i = 0; !this.closing || i === 0; i++) {
      try {
        await this.leases.release(job, this.owner, reason, maxAttempts, retryInMs, refund);
        this.held.delete(key);
        return;
      } catch (e) {
        if (!infrastructureOf(e)) {
          this.held.delete(key);
          this.log(`releasing ${job.id}: ${(e as Error).message}`);
          return;
        }
        this.held.set(key, job);
        this.logOnce(`releasing jobs: ${(e as Error).message} (tried again every second)`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  /** What queued jobs wait for now: the dependencies of outages seen in the last minute. */
  waitingFor(): string[] {
    const now = Date.now();
    const deps = new Set<Dependency>();
    for (const o of this.outages.values()) if (now - o.last < 60_000) deps.add(o.dependency);
    return [...deps].map((d) => DEPENDENCY_NAMES[d]);
  }

  private async onExit(lane: Lane, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    if (lane.child !== child) return;
    lane.child = null;
    lane.ready = false;
    const job = lane.current;
    lane.current = null;
    if (job) {
      const why = this.closing ? 'the service stopped while the job ran' : `the worker process died (${signal ?? `exit code ${code}`}) while running it`;
      const outcome = await this.leases
        .release(job, this.owner, why, this.closing ? Number.MAX_SAFE_INTEGER : this.maxAttempts, this.closing ? 0 : 500)
        .catch(() => 'unknown');
      if (!this.closing) this.log(`${job.kind} ${job.id}: ${why}; ${outcome}`);
    }
    if (!this.closing) {
      lane.restartTimer = setTimeout(() => this.spawn(lane), 200);
    }
  }

  private async renew(): Promise<void> {
    for (const job of [...this.lanes.map((l) => l.current), ...this.held.values()]) {
      if (job) await this.leases.renew(job, this.owner, this.leaseMs).catch(() => {});
    }
  }

  /** Hands the next queued job of each idle lane's kind to that lane's worker. */
  private async pump(): Promise<void> {
    if (this.closing) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        for (const lane of this.lanes) {
          if (this.closing || !lane.child || !lane.ready || lane.current) continue;
          const job =
            lane.kind === 'compile'
              ? await this.leases.claimCompile(this.owner, this.leaseMs, this.perTenant)
              : await this.leases.claimProve(this.owner, this.leaseMs);
          if (!job) continue;
          const child = lane.child;
          if (!child || !child.connected || this.closing) {
            await this.leases.release(job, this.owner, 'not started', Number.MAX_SAFE_INTEGER, 0);
            continue;
          }
          lane.current = job;
          child.send({ type: 'job', job } satisfies ToWorker);
        }
      } while (this.pumpAgain && !this.closing);
    } catch (e) {
      this.logOnce(`embedded queue: ${(e as Error).message}`);
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
    return this.outbox.openCounts();
  }

  /** True when every worker process is alive. */
  async ping(): Promise<boolean> {
    return this.lanes.every((l) => l.child !== null && l.child.connected);
  }

  /** Jobs whose dispatcher stopped renewing its lease (another API process died) go back to the queue. */
  async reconcile(): Promise<ReconcileReport> {
    const report: ReconcileReport = { requeued: 0, failed: 0 };
    for (const job of await this.leases.expired(false)) {
      if (this.held.has(jobKey(job))) continue;
      const r = await this.leases.release(job, null, 'its worker stopped renewing the lease', this.maxAttempts, 0);
      if (r === 'requeued') report.requeued++;
      if (r === 'failed') report.failed++;
    }
    return report;
  }

  /** Lets the running jobs finish (up to `timeoutMs`), then stops the worker processes. */
  async close(timeoutMs = 30_000): Promise<void> {
    this.closing = true;
    for (const t of this.timers) clearInterval(t);
    await Promise.all(
      this.lanes.map(async (lane) => {
        if (lane.restartTimer) clearTimeout(lane.restartTimer);
        const child = lane.child;
        if (!child) return;
        if (child.connected) child.send({ type: 'stop' } satisfies ToWorker, () => {});
        const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        await lane.exited;
        clearTimeout(killer);
      }),
    );
  }
}

function jobKey(job: ClaimedJob): string {
  return job.kind === 'compile' ? `compile/${job.tenant}/${job.id}` : `prove/${job.id}`;
}
