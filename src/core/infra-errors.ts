/**
 * Errors of the infrastructure (the database, Redis, the artifacts disk, a child process)
 * versus errors of a job itself (its input, its model). An infrastructure error says
 * nothing about the job: the job waits until the dependency is back instead of spending
 * an attempt; only the job's own errors (ZkinferError codes about the input or the model)
 * fail it.
 */
import { isZkinferError } from './errors.ts';

export type Dependency = 'database' | 'redis' | 'disk' | 'child process';

/** What a dependency is called in messages and reasons. */
export const DEPENDENCY_NAMES: Record<Dependency, string> = {
  database: 'the database',
  redis: 'Redis',
  disk: 'the artifacts folder (disk)',
  'child process': 'a child process',
};

/** An error already classified as the infrastructure's (crosses IPC as its dependency and message). */
export class InfrastructureError extends Error {
  constructor(
    readonly dependency: Dependency,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'InfrastructureError';
  }
}

/** Network errors: the server is down, restarting or unreachable. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);
/** File-system errors of the artifacts folder that a job cannot cause: permissions, a full or read-only disk, I/O. */
const DISK_CODES = new Set(['EACCES', 'EPERM', 'ENOSPC', 'EROFS', 'EIO', 'EDQUOT', 'EMFILE', 'ENFILE']);
/** PostgreSQL SQLSTATEs: connection exceptions (08), operator intervention (57P01-57P03), insufficient resources (53). */
const PG_STATE = /^(08...|57P0[1-3]|53...)$/;
const PG_MESSAGE = new RegExp(
  [
    'Connection terminated',
    'timeout exceeded when trying to connect',
    'Client has encountered a connection error',
    'the database system is (starting up|shutting down|in recovery)',
    'terminating connection due to administrator command',
  ].join('|'),
  'i',
);
const REDIS_MESSAGE = /Stream isn't writeable|Connection is closed|enableOfflineQueue|max retries per request|MaxRetriesPerRequest/i;
const NETWORK_MESSAGE = new RegExp(`\\b(${[...NETWORK_CODES].join('|')})\\b`);
const DISK_MESSAGE = new RegExp(`^((${[...DISK_CODES].join('|')}): |ENOENT: no such file or directory, mkdir )`);
const CHILD_MESSAGE = /child process (exited|died)|worker process died|spawn \S+ (ENOMEM|EAGAIN)/i;

/**
 * The dependency an error comes from, or null when it is the job's own (or unknown: a
 * bug is retried with attempts as before). `network` names the dependency a network error
 * means where it is raised (a worker talks to the database; Redis errors name themselves).
 */
export function infrastructureOf(e: unknown, network: Dependency = 'database'): Dependency | null {
  if (e instanceof InfrastructureError) return e.dependency;
  if (isZkinferError(e) || !(e instanceof Error)) return null;
  const code = (e as NodeJS.ErrnoException).code;
  if (typeof code === 'string') {
    if (DISK_CODES.has(code)) return 'disk';
    // A recursive mkdir that finds no parent: the folder went away or cannot be written (a read-only remount says ENOENT).
    if (code === 'ENOENT' && (e as NodeJS.ErrnoException).syscall === 'mkdir') return 'disk';
    if (NETWORK_CODES.has(code)) return network;
    if (PG_STATE.test(code)) return 'database';
  }
  const m = e.message;
  if (REDIS_MESSAGE.test(m)) return 'redis';
  if (PG_MESSAGE.test(m)) return 'database';
  if (DISK_MESSAGE.test(m)) return 'disk';
  if (NETWORK_MESSAGE.test(m)) return network;
  if (CHILD_MESSAGE.test(m)) return 'child process';
  return null;
}

/**
 * The line a worker logs when a job meets an outage: the dependency and the error's code
 * (not its message, which names a file or a job), so a throttled log writes it once per
 * outage rather than once per job.
 */
export function outageLogLine(dependency: Dependency, e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const m = /\b(E[A-Z]{2,}|\d{2}[0-9A-Z]{3})\b/.exec(e instanceof Error ? e.message : String(e));
  const what = typeof code === 'string' ? code : (m?.[1] ?? 'unavailable');
  return `${DEPENDENCY_NAMES[dependency]} unavailable (${what}): jobs wait, their attempts are not spent`;
}

/** The wait before the n-th try (n >= 1) during an outage: 1 s doubling, at most 30 s. */
export function outageDelayMs(n: number, firstMs = 1000, capMs = 30_000): number {
  return Math.min(capMs, firstMs * 2 ** Math.max(0, Math.min(20, n - 1)));
}

/** Every reason recorded for a job failed by an outage starts with this (a resend of its Idempotency-Key retries it). */
export const OUTAGE_REASON_PREFIX = 'OUTAGE:';

/** Why a job failed past the outage budget: names the dependency and the budget. */
export function outageReason(dependency: Dependency, budgetMs: number, e: unknown): string {
  const why = e instanceof Error ? e.message : String(e);
  return (
    `${OUTAGE_REASON_PREFIX} ${DEPENDENCY_NAMES[dependency]} stayed unavailable for longer than the outage budget ` +
    `(${Math.round(budgetMs / 1000)} s, OUTAGE_BUDGET_SECONDS): ${why}`
  ).slice(0, 1000);
}

/**
 * True when a failed job's reason says the infrastructure failed it (past the budget, or
 * before this classification existed: attempts spent on connection or disk errors).
 */
export function failedByInfrastructure(reason: string | null | undefined): boolean {
  if (!reason) return false;
  if (reason.includes(OUTAGE_REASON_PREFIX)) return true;
  const patterns = [NETWORK_MESSAGE, PG_MESSAGE, REDIS_MESSAGE, /\b(EACCES|ENOSPC|EROFS|EIO|EDQUOT)\b/];
  return patterns.some((p) => p.test(reason));
}

/**
 * One job's outage so far: when it first met an unavailable dependency and how many tries
 * since. A gap longer than the longest wait plus a minute starts a new outage.
 */
export interface OutageState {
  since: number;
  last: number;
  n: number;
  dependency: Dependency;
}

/** The next state after an infrastructure error now, and whether the budget is spent. */
export function nextOutage(prev: OutageState | undefined, dependency: Dependency, budgetMs: number, now = Date.now()) {
  const fresh = !prev || now - prev.last > outageDelayMs(prev.n) + 60_000;
  const state: OutageState = fresh ? { since: now, last: now, n: 1, dependency } : { since: prev.since, last: now, n: prev.n + 1, dependency };
  return { state, delayMs: outageDelayMs(state.n), exhausted: now - state.since >= budgetMs };
}
