// The stacks the chaos faults run against (a fresh PostgreSQL database and a redis-server of
// their own, or a fresh embedded store) and the client-side helpers they share.
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { openDb } from '../../src/store/db.ts';
import { freshPostgres } from '../helpers/postgres.ts';
import {
  ADMIN_KEY,
  type FaultResult,
  freePort,
  http,
  LOAN_APPLICANT,
  Ledger,
  type Proc,
  PROVER_KEY,
  sleep,
  type Stack,
  startRedis,
  submit,
  waitRedis,
} from './harness.ts';

export interface FaultOptions {
  /** Proof requests per fault. */
  n: number;
  /** How long Redis stays down. */
  outageMs: number;
  echo: boolean;
}

export interface BullStack extends Stack {
  redisPort: number;
  redis: Proc;
  pgUrl: string;
  stopPg(): Promise<void>;
}

export const baseEnv = (): NodeJS.ProcessEnv => ({
  ...process.env,
  ZKINFER_API_KEYS: `${ADMIN_KEY}=admin:chaos,${PROVER_KEY}=prover:chaos`,
  ZKINFER_QUEUE_PREFIX: `chaos-${randomUUID().slice(0, 8)}`,
  RECONCILE_INTERVAL_MS: '500',
  WORKER_LOCK_MS: '2000',
  WORKER_HEARTBEAT_STALE_MS: '10000',
  RATE_LIMIT_PER_MINUTE: '1000000',
  SHUTDOWN_TIMEOUT_MS: '5000',
  REDIS_URL: '',
  DATABASE_URL: '',
});

export async function bullStack(echo: boolean): Promise<BullStack> {
  const pgdb = await freshPostgres();
  if (!pgdb.url) throw new Error(pgdb.why);
  const redisPort = await freePort();
  const redis = startRedis(redisPort);
  await waitRedis(redisPort);
  const port = await freePort();
  return {
    env: { ...baseEnv(), REDIS_URL: `redis://127.0.0.1:${redisPort}`, DATABASE_URL: pgdb.url },
    port,
    base: `http://127.0.0.1:${port}`,
    echo,
    redisPort,
    redis,
    pgUrl: pgdb.url,
    stopPg: pgdb.stop,
  };
}

export async function embeddedStack(echo: boolean): Promise<Stack & { dbDir: string }> {
  const dbDir = path.join(await mkdtemp(path.join(tmpdir(), 'zkinfer-chaos-')), 'db');
  const port = await freePort();
  return { env: { ...baseEnv(), ZKINFER_DB_DIR: dbDir }, port, base: `http://127.0.0.1:${port}`, echo, dbDir };
}

/** Private requests still stored for proofs that ended (PostgreSQL). */
export async function leftoverPg(url: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const r = await c.query("SELECT count(*)::int AS n FROM proof_requests r JOIN proofs p ON p.id = r.proof_id WHERE p.status IN ('done', 'failed')");
  await c.end();
  return r.rows[0].n;
}

/** The same, from the embedded store, opened once its server has stopped. */
export async function leftoverEmbedded(dir: string): Promise<number> {
  const db = await openDb({ dir });
  const [r] = await db.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM proof_requests r JOIN proofs p ON p.id = r.proof_id WHERE p.status IN ('done', 'failed')",
  );
  await db.close();
  return r.n;
}

export const applicant = async () => JSON.parse(await readFile(LOAN_APPLICANT, 'utf8'));

/** Submits `n` keyed requests at once; resolves when every one has its 202 (or the deadline). */
export function burst(
  stack: Stack,
  ledger: Ledger,
  modelId: string,
  n: number,
  input: unknown,
  keys: string[] = Array.from({ length: n }, () => randomUUID()),
) {
  const deadline = Date.now() + 120_000;
  return { keys, all: Promise.all(keys.map((k) => submit(stack, ledger, modelId, k, input, deadline))) };
}

/** Sends every key again: each must come back with the id it was first given. */
export async function resend(stack: Stack, ledger: Ledger, modelId: string, keys: string[], input: unknown) {
  const deadline = Date.now() + 60_000;
  await Promise.all(keys.map((k) => submit(stack, ledger, modelId, k, input, deadline)));
}

export async function until(fn: () => Promise<boolean>, ms: number, step = 50): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn().catch(() => false)) return true;
    await sleep(step);
  }
  return false;
}

export const someProving = (base: string) => async () => {
  const r = await http(base, 'GET', '/v1/proofs?limit=200', ADMIN_KEY);
  return r.body.items.some((p: { status: string }) => p.status === 'proving');
};

export const readyz = async (base: string) =>
  (await http(base, 'GET', '/readyz', ADMIN_KEY, undefined, {}, 3000).catch(() => ({ status: 0, body: null }))).status;

export type Fault = (o: FaultOptions) => Promise<Omit<FaultResult, 'seconds'>>;
