import type { Db } from '../store/db.ts';
import type { Stores } from '../store/stores.ts';
import { Heartbeats } from './heartbeats.ts';
import { sweepReceipts } from '../store/proof-files.ts';
import { artifactStore } from '../core/artifact-store.ts';
import { throttledLog } from './log-throttle.ts';
import type { JobQueue, ReconcileReport } from './types.ts';

const LEADER_LOCK = 7_240_012;

/**
 * Brings every open record to a live job or to failed, on a timer, in one process at a
 * time (a PostgreSQL advisory lock elects the leader; the embedded store has one process).
 * It also forgets idempotency keys past their lifetime and workers gone for a day, and
 * deletes applicants' receipts past theirs.
 */
/** How often the leader rewrites the private-request table. */
const SCRUB_INTERVAL_MS = 60_000;

export function startReconciler(opts: {
  db: Db;
  stores: Stores;
  queue: JobQueue;
  intervalMs: number;
  idempotencyTtlMs: number;
  /** Receipts older than this are deleted (absent: kept). */
  receiptTtlMs?: number;
  log?: (m: string) => void;
}): {
  runOnce(): Promise<ReconcileReport | undefined>;
  stop(): Promise<void>;
} {
  const log = throttledLog(opts.log ?? ((m) => process.stderr.write(`${m}\n`)));
  let running: Promise<ReconcileReport | undefined> | null = null;
  let stopped = false;
  let scrubbedAt = 0;
  const heartbeats = new Heartbeats(opts.db);
  const runOnce = () => {
    if (!running) {
      running = opts.db
        .leader(LEADER_LOCK, async () => {
          const report = await opts.queue.reconcile();
          await opts.stores.idempotency.prune(opts.idempotencyTtlMs);
          await heartbeats.prune();
          if (opts.receiptTtlMs !== undefined) await sweepReceipts(opts.receiptTtlMs);
          // Deleted private requests leave their bytes in the table's files until rewritten.
          if (Date.now() - scrubbedAt >= SCRUB_INTERVAL_MS) {
            await opts.stores.proofs.scrubDeletedRequests();
            // A shared artifact store: the bytes of removed or superseded artifacts.
            await artifactStore().sweep?.();
            scrubbedAt = Date.now();
          }
          return report;
        })
        .catch((e: Error) => {
          log(`reconciler: ${e.message}`);
          return undefined;
        })
        .finally(() => (running = null));
    }
    return running;
  };
  const timer = setInterval(() => {
    if (!stopped) void runOnce();
  }, opts.intervalMs);
  timer.unref();
  return {
    runOnce,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
