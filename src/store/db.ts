import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { infrastructureOf } from '../core/infra-errors.ts';
import { artifactKindDir } from '../core/artifacts.ts';
import { PACKAGE_ROOT } from '../core/package-root.ts';

/** What every SQL statement of the service goes through: PostgreSQL and PGlite alike. */
export interface Sql {
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** Several statements, no parameters (migrations). */
  exec(text: string): Promise<void>;
}

/** A database: PostgreSQL (a pool) or the embedded PGlite (one connection, this process only). */
export interface Db extends Sql {
  readonly kind: 'postgres' | 'pglite';
  /** Runs `fn` in one transaction: committed if it returns, rolled back if it throws. */
  tx<T>(fn: (q: Sql) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` only while this process holds the named lock, so one process of many does
   * the work (the reconciler's leader). Resolves to undefined when another holds it.
   */
  leader<T>(lockKey: number, fn: () => Promise<T>): Promise<T | undefined>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export const MIGRATIONS_DIR = path.join(PACKAGE_ROOT, 'migrations');
const MIGRATION_LOCK = 7_240_011;

class PostgresDb implements Db {
  readonly kind = 'postgres';
  constructor(private readonly pool: pg.Pool) {
    // An idle client whose server went away: reported by the next query, not a crash.
    pool.on('error', () => {});
  }
  async query<T>(text: string, params?: unknown[]): Promise<T[]> {
    return (await this.pool.query(text, params as unknown[])).rows as T[];
  }
  async exec(text: string): Promise<void> {
    await this.pool.query(text);
  }
  /**
   * A client of the pool, with an error listener while it is checked out: a server that
   * goes away (an outage) errors the held client, which must not crash the process; the
   * client is then discarded on release instead of going back to the pool.
   */
  private async checkout(): Promise<{ client: pg.PoolClient; release(e?: unknown): void }> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    const onError = (e: Error) => (broken = e);
    client.on('error', onError);
    return {
      client,
      release: (e?: unknown) => {
        client.off('error', onError);
        client.release(broken ?? (e !== undefined && infrastructureOf(e) ? (e as Error) : undefined));
      },
    };
  }
  async tx<T>(fn: (q: Sql) => Promise<T>): Promise<T> {
    const { client, release } = await this.checkout();
    const q: Sql = {
      query: async <R>(text: string, params?: unknown[]) => (await client.query(text, params as unknown[])).rows as R[],
      exec: async (text: string) => void (await client.query(text)),
    };
    try {
      await client.query('BEGIN');
      const out = await fn(q);
      await client.query('COMMIT');
      release();
      return out;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      release(e);
      throw e;
    }
  }
  async leader<T>(lockKey: number, fn: () => Promise<T>): Promise<T | undefined> {
    const { client, release } = await this.checkout();
    let failed: unknown;
    try {
      const [{ got }] = (await client.query('SELECT pg_try_advisory_lock($1) AS got', [lockKey])).rows as { got: boolean }[];
      if (!got) return undefined;
      try {
        return await fn();
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [lockKey]);
      }
    } catch (e) {
      failed = e;
      throw e;
    } finally {
      release(failed);
    }
  }
  async ping(): Promise<boolean> {
    try {
      await withTimeout(this.pool.query('SELECT 1'), 1000);
      return true;
    } catch {
      return false;
    }
  }
  async close(): Promise<void> {
    await this.pool.end();
  }
}

class EmbeddedDb implements Db {
  readonly kind = 'pglite';
  constructor(
    private readonly pglite: PGlite,
    private readonly lockFile: string | null,
  ) {}
  async query<T>(text: string, params?: unknown[]): Promise<T[]> {
    return (await this.pglite.query<T>(text, params)).rows;
  }
  async exec(text: string): Promise<void> {
    await this.pglite.exec(text);
  }
  tx<T>(fn: (q: Sql) => Promise<T>): Promise<T> {
    return this.pglite.transaction((t) =>
      fn({
        query: async <R>(text: string, params?: unknown[]) => (await t.query<R>(text, params)).rows,
        exec: async (text: string) => void (await t.exec(text)),
      }),
    );
  }
  // One process owns the embedded store (see openDb): it is always the leader.
  leader<T>(_lockKey: number, fn: () => Promise<T>): Promise<T | undefined> {
    return fn();
  }
  async ping(): Promise<boolean> {
    try {
      await withTimeout(this.pglite.query('SELECT 1'), 5000);
      return true;
    } catch {
      return false;
    }
  }
  async close(): Promise<void> {
    await this.pglite.close();
    if (this.lockFile) await rm(this.lockFile, { force: true });
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, rej) => (timer = setTimeout(() => rej(new Error('timeout')), ms)))]).finally(() => clearTimeout(timer));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The embedded store's directory: `artifacts/db` unless given. */
export function embeddedDbDir(): string {
  return artifactKindDir('db');
}

/**
 * Opens the records database and brings its schema up to date: PostgreSQL at `url`, else
 * PGlite in `dir` (default artifacts/db; "memory://" keeps nothing). The embedded store
 * belongs to one process: a second one opening the same directory is refused.
 */
export async function openDb(opts: { url?: string | null; dir?: string | null; poolSize?: number }): Promise<Db> {
  let db: Db;
  if (opts.url) {
    db = new PostgresDb(new pg.Pool({ connectionString: opts.url, max: opts.poolSize ?? 10, connectionTimeoutMillis: 5000, idleTimeoutMillis: 30_000 }));
  } else {
    const dir = opts.dir ?? embeddedDbDir();
    let lockFile: string | null = null;
    if (!dir.startsWith('memory://')) {
      await mkdir(dir, { recursive: true });
      lockFile = path.join(path.dirname(dir), `${path.basename(dir)}.owner`);
      const owner = Number((await readFile(lockFile, 'utf8').catch(() => '')).trim());
      if (owner && owner !== process.pid && alive(owner)) {
        throw new Error(`the embedded database ${dir} is in use by process ${owner}; run one API process per embedded store, or set DATABASE_URL`);
      }
      await writeFile(lockFile, String(process.pid));
    }
    db = new EmbeddedDb(await PGlite.create(dir), lockFile);
  }
  try {
    await migrate(db);
  } catch (e) {
    await db.close().catch(() => {});
    throw e;
  }
  return db;
}

/**
 * Applies the numbered SQL files of migrations/ that have not run yet, each in its own
 * transaction, in order, recording each in schema_migrations. An advisory lock keeps two
 * processes starting at once from applying the same file twice.
 */
export async function migrate(db: Db, dir = MIGRATIONS_DIR): Promise<string[]> {
  if (!existsSync(dir)) throw new Error(`migrations folder not found: ${dir}`);
  const files = (await readdir(dir)).filter((f) => /^\d{3}_[a-z0-9_-]+\.sql$/.test(f)).sort();
  const applied: string[] = [];
  await db.tx(async (q) => {
    await q.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await q.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())',
    );
  });
  for (const file of files) {
    const version = Number(file.slice(0, 3));
    const sql = await readFile(path.join(dir, file), 'utf8');
    await db.tx(async (q) => {
      await q.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      const done = await q.query('SELECT 1 FROM schema_migrations WHERE version = $1', [version]);
      if (done.length) return;
      await q.exec(sql);
      await q.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [version, file]);
      applied.push(file);
    });
  }
  return applied;
}
