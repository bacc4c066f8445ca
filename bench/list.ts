// GET /v1/proofs latency with 100k proof records, on PostgreSQL and on the embedded store:
// the list reads one index range per page (tenant, model, created_at), never every record.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildApp } from '../src/api/app.ts';
import { loadConfig } from '../src/service/config.ts';
import { type Db, openDb } from '../src/store/db.ts';
import { freshPostgres } from '../test/helpers/postgres.ts';

const N = 100_000;
const KEY = 'bench-prover-key-0123456789';
const pct = (xs: number[], p: number) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const MODELS = Array.from({ length: 5 }, (_, i) =>
  String(i)
    .repeat(64)
    .slice(0, 64)
    .replace(/[^0-9a-f]/g, 'a'),
);

/** 100k proofs over 2 tenants and 5 models each, one second apart. */
async function fill(db: Db): Promise<void> {
  for (const t of ['t0', 't1']) {
    for (const m of MODELS) {
      await db.query("INSERT INTO models (tenant, id, status, file_name, settings) VALUES ($1, $2, 'ready', 'm.onnx', '{}'::jsonb)", [t, m]);
    }
  }
  await db.query(
    `INSERT INTO proofs (id, tenant, model_id, status, stage, model_version, created_at, updated_at)
     SELECT gen_random_uuid(), 't' || (i % 2), ($2::text[])[1 + (i / 2) % 5], 'done', 'stored', 1, timestamp '2026-01-01' + (i || ' seconds')::interval, now()
     FROM generate_series(1, $1::int) i`,
    [N, MODELS],
  );
  await db.query('ANALYZE proofs');
}

async function measure(db: Db, name: string): Promise<string[]> {
  const app = await buildApp({
    config: { ...loadConfig({}), dbDir: 'memory://', rateLimit: 1_000_000, apiKeys: [{ key: KEY, role: 'prover', tenant: 't0' }] },
    db,
    background: false,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  const get = async (url: string) => {
    const t0 = performance.now();
    const r = await fetch(base + url, { headers: { authorization: `Bearer ${KEY}` } });
    const body = (await r.json()) as { items: unknown[]; nextCursor: string | null };
    if (r.status !== 200 || body.items.length !== 50) throw new Error(`${url}: ${r.status}`);
    return { ms: performance.now() - t0, next: body.nextCursor };
  };
  const rows: string[] = [];
  const run = async (label: string, url: string) => {
    for (let i = 0; i < 20; i++) await get(url); // warm
    const xs: number[] = [];
    for (let i = 0; i < 200; i++) xs.push((await get(url)).ms);
    rows.push(`| ${name} | ${N} | ${label} | ${pct(xs, 50).toFixed(2)} | ${pct(xs, 95).toFixed(2)} |`);
  };
  await run('first page, `limit=50`', '/v1/proofs?limit=50');
  await run('one model, `modelId=...&limit=50`', `/v1/proofs?modelId=${MODELS[1]}&limit=50`);
  // Deep pages: follow the cursor 200 pages in (10,000 records), timing each page.
  const deep: number[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < 200; i++) {
    const r = await get(`/v1/proofs?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    deep.push(r.ms);
    cursor = r.next;
  }
  rows.push(`| ${name} | ${N} | pages 1 to 200 through the cursor | ${pct(deep, 50).toFixed(2)} | ${pct(deep, 95).toFixed(2)} |`);
  const plan = await db.query<Record<string, string>>(
    "EXPLAIN SELECT id FROM proofs WHERE tenant = 't0' AND model_id = $1 AND (created_at, id) < (now(), gen_random_uuid()) ORDER BY created_at DESC, id DESC LIMIT 51",
    [MODELS[1]],
  );
  const scan = plan.map((r) => Object.values(r)[0]).find((l) => /Scan/.test(l)) ?? '?';
  rows.push(
    `| ${name} | ${N} | plan of a filtered page (ids only): \`${scan
      .trim()
      .replace(/\s+/g, ' ')
      .replace(/^->\s*/, '')
      .replace(/ \(cost.*$/, '')}\` | | |`,
  );
  await app.close();
  return rows;
}

export async function listBench(): Promise<string> {
  const rows: string[] = [];
  const pg = await freshPostgres();
  if (pg.url) {
    const db = await openDb({ url: pg.url });
    await fill(db);
    rows.push(...(await measure(db, 'PostgreSQL 15')));
    await db.close();
    await pg.stop();
  } else rows.push(`| PostgreSQL | skipped: ${pg.why} | | | |`);
  const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-bench-db-'));
  const db = await openDb({ dir: path.join(dir, 'db') });
  await fill(db);
  rows.push(...(await measure(db, 'embedded (PGlite)')));
  await db.close();
  await rm(dir, { recursive: true, force: true });
  return [
    '## Proof lists (GET /v1/proofs with 100k proof records, through HTTP on loopback)',
    '',
    '| database | proofs | request | p50 ms | p95 ms |',
    '|---|---|---|---|---|',
    ...rows,
    '',
    "100,000 proofs over 2 tenants and 5 models each; the caller's tenant holds 50,000. 200 requests per row after 20 warm-up ones, one at a time. Pages are keyset pages on (created_at, id) read from the (tenant, created_at, id) and (tenant, model_id, created_at, id) indexes, so a page costs the same at any depth.",
  ].join('\n');
}
