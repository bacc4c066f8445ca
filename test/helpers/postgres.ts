import { randomUUID } from 'node:crypto';
import pg from 'pg';

/**
 * A fresh PostgreSQL database for one test file: created on the server of DATABASE_URL
 * (else postgres://postgres@127.0.0.1:5432/test), dropped by `stop()`. `url` is null only
 * when no server answers; `why` then says so, for the skip message.
 */
export async function freshPostgres(): Promise<{ url: string | null; why: string; stop(): Promise<void> }> {
  const admin = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
  const name = `zkinfer_test_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
  const client = new pg.Client({ connectionString: admin, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query(`CREATE DATABASE ${name}`);
  } catch (e) {
    await client.end().catch(() => {});
    return { url: null, why: `no PostgreSQL at ${admin}: ${(e as Error).message}`, async stop() {} };
  }
  await client.end();
  const u = new URL(admin);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    why: '',
    async stop() {
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
      await c.end();
    },
  };
}
