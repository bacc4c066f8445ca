// Compile/setup jobs and proofs run in separate worker processes, and compiles are taken
// round-robin across tenants (issue #12): a hostile tenant's uploads (the issue's
// 94-byte shape: a wide input and a Relu, here 400 to 559 wide: 11k to 15k constraints
// and a 2^14 setup each) neither delay another tenant's proof of a ready model nor hold back that
// tenant's own upload. Real service: embedded
// store, its own worker processes, real compiles and Groth16.
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.ts';
import { type Config, loadConfig } from '../../src/service/config.ts';
import { buildOnnx } from '../../src/model/index.ts';
import { LOAN_APPLICANT, LOAN_MODEL } from '../helpers/paths.ts';
import { openDb } from '../../src/store/db.ts';
import { Stores } from '../../src/store/stores.ts';
import { jobRecords } from '../../src/queue/job-records.ts';
import { makeProcessors } from '../../src/queue/processors.ts';
import { redisConnection, startBullWorkers } from '../../src/queue/index.ts';
import { freshPostgres } from '../helpers/postgres.ts';
import { findRedis } from '../helpers/redis.ts';
import { randomUUID } from 'node:crypto';

const KEYS = { bank: 'lanes-bank-prover-key-0123456789', hostile: 'lanes-hostile-prover-key-012345' };
let app: FastifyInstance;
let base: string;

async function call(method: string, url: string, key: string, body?: unknown): Promise<{ status: number; body: any }> {
  const r = await fetch(base + url, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, body: await r.json() };
}

async function upload(key: string, bytes: Uint8Array, name: string): Promise<string> {
  const f = new FormData();
  f.append('model', new Blob([Buffer.from(bytes)]), name);
  const r = await fetch(`${base}/v1/models`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: f });
  const body = (await r.json()) as { id: string };
  expect(r.status, JSON.stringify(body)).toBe(202);
  return body.id;
}

async function until<T>(fn: () => Promise<T>, done: (v: T) => boolean, ms = 300_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (done(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The 94-byte model: a wide input and one Relu (width varies the model id). */
const wideRelu = (width: number) =>
  buildOnnx({
    inputs: [{ name: 'x', dims: [1, width] }],
    output: { name: 'y', dims: [1, width] },
    nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'], name: 'relu' }],
  });

beforeAll(async () => {
  const config: Config = {
    ...loadConfig({}),
    host: '127.0.0.1',
    port: 0,
    dbDir: await mkdtemp(path.join(tmpdir(), 'zkinfer-lanes-')),
    redisUrl: null,
    databaseUrl: null,
    rateLimit: 10_000,
    reconcileIntervalMs: 500,
    compileWorkers: 1,
    proveWorkers: 1,
    compilesPerTenant: 1,
    apiKeys: [
      { key: KEYS.bank, role: 'prover', tenant: 'bank' },
      { key: KEYS.hostile, role: 'prover', tenant: 'hostile' },
    ],
  };
  app = await buildApp({ config });
  await app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
}, 60_000);

afterAll(async () => {
  await app?.close();
});

describe('compile lanes and per-tenant fairness (embedded queue)', () => {
  it("a tenant's slow compiles delay neither another tenant's proof nor its upload", async () => {
    const loan = await upload(KEYS.bank, await readFile(LOAN_MODEL), 'loan-model.onnx');
    expect(
      (
        await until(
          () => call('GET', `/v1/models/${loan}`, KEYS.bank),
          (r) => r.body.status !== 'queued' && r.body.status !== 'compiling',
        )
      ).body.status,
    ).toBe('ready');

    // The hostile tenant queues two slow compiles, then the bank uploads a model of its own.
    const slow = [];
    // Widths drawn per run: compiles and setups are cached by content, and these must not hit the cache.
    const w0 = 400 + Math.floor(Math.random() * 80) * 2;
    for (const w of [w0, w0 + 1]) slow.push(await upload(KEYS.hostile, wideRelu(w), `wide-${w}.onnx`));
    const small = await upload(KEYS.bank, wideRelu(3), 'small.onnx');

    // The bank's proof of its ready model runs in the prove worker while the first slow compile runs.
    const t0 = Date.now();
    const req = await call('POST', `/v1/models/${loan}/proofs`, KEYS.bank, { input: JSON.parse(await readFile(LOAN_APPLICANT, 'utf8')) });
    expect(req.status).toBe(202);
    const proof = await until(
      () => call('GET', `/v1/proofs/${req.body.id}`, KEYS.bank),
      (r) => r.body.status === 'done' || r.body.status === 'failed',
    );
    const proofMs = Date.now() - t0;
    expect(proof.body.status, JSON.stringify(proof.body)).toBe('done');
    const first = await call('GET', `/v1/models/${slow[0]}`, KEYS.hostile);
    console.log(`bank proof done in ${proofMs} ms while the hostile tenant's first compile was ${first.body.status}`);
    expect(first.body.status).toBe('compiling');

    // Round-robin: the bank's upload is compiled right after the hostile tenant's first one,
    // before the hostile tenant's second.
    const smallReady = await until(
      () => call('GET', `/v1/models/${small}`, KEYS.bank),
      (r) => r.body.status === 'ready' || r.body.status === 'failed',
    );
    expect(smallReady.body.status, JSON.stringify(smallReady.body)).toBe('ready');
    const states = await Promise.all(slow.map(async (id) => (await call('GET', `/v1/models/${id}`, KEYS.hostile)).body.status));
    console.log(`when the bank's upload was ready, the hostile tenant's compiles were: ${states.join(', ')}`);
    expect(states[0]).toBe('ready');
    // (the second may have been taken the moment the bank's was done, not before)
    expect(['queued', 'compiling']).toContain(states[1]);
    // Every accepted job ends.
    for (const id of slow) {
      expect(
        (
          await until(
            () => call('GET', `/v1/models/${id}`, KEYS.hostile),
            (r) => r.body.status === 'ready' || r.body.status === 'failed',
          )
        ).body.status,
      ).toBe('ready');
    }
  }, 900_000);
});

describe('per-tenant compile limit on BullMQ workers', () => {
  it("a tenant's second compile waits for its first (delayed, not failed) while another tenant's runs", async () => {
    const redis = await findRedis();
    const postgres = await freshPostgres();
    if (!redis.url || !postgres.url) {
      console.warn(`skipping the BullMQ per-tenant test: ${redis.why || postgres.why}`);
      redis.stop();
      await postgres.stop();
      return;
    }
    const prefix = `test-${randomUUID()}`;
    const config: Config = {
      ...loadConfig({}),
      host: '127.0.0.1',
      port: 0,
      redisUrl: redis.url,
      databaseUrl: postgres.url,
      queuePrefix: prefix,
      rateLimit: 10_000,
      reconcileIntervalMs: 500,
      compilesPerTenant: 1,
      apiKeys: [
        { key: KEYS.bank, role: 'prover', tenant: 'bank' },
        { key: KEYS.hostile, role: 'prover', tenant: 'hostile' },
      ],
    };
    const conn = redisConnection(redis.url);
    conn.on('error', () => {});
    const api = await buildApp({ config, redis: conn });
    await api.listen({ host: '127.0.0.1', port: 0 });
    const saved = base;
    base = `http://127.0.0.1:${(api.server.address() as { port: number }).port}`;
    const db = await openDb({ url: postgres.url });
    const stores = new Stores(db);
    // A compile-only worker taking two jobs at a time: without the limit, both of the
    // hostile tenant's compiles would run together.
    const workers = startBullWorkers({
      redisUrl: redis.url,
      prefix,
      concurrency: 2,
      processors: makeProcessors(jobRecords(stores), { limits: config.limits, maxPtauPower: config.maxPtauPower }),
      stores,
      queues: ['compile'],
      compilesPerTenant: 1,
    });
    try {
      const w0 = 20 + Math.floor(Math.random() * 100) * 2;
      // The hostile tenant's first compile is slow, the others small: the bank's ends while
      // it runs, freeing a slot that the hostile tenant's second one must not take.
      const a1 = await upload(KEYS.hostile, wideRelu(w0 + 250), 'a1.onnx');
      const a2 = await upload(KEYS.hostile, wideRelu(w0 + 1), 'a2.onnx');
      const b1 = await upload(KEYS.bank, wideRelu(w0), 'b1.onnx');
      let overlap = false;
      const states = async () =>
        Promise.all(
          [
            [KEYS.hostile, a1],
            [KEYS.hostile, a2],
            [KEYS.bank, b1],
          ].map(async ([k, id]) => (await call('GET', `/v1/models/${id}`, k)).body.status as string),
        );
      const end = Date.now() + 600_000;
      let s: string[] = [];
      while (Date.now() < end) {
        s = await states();
        if (s[0] === 'compiling' && s[1] === 'compiling') overlap = true;
        if (s.every((x) => x === 'ready' || x === 'failed')) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(s).toEqual(['ready', 'ready', 'ready']);
      expect(overlap).toBe(false);
      // The bank's compile was taken before the hostile tenant's second one.
      const rows = await db.query<{ id: string; claimed_at: Date }>('SELECT id, claimed_at FROM models WHERE id = ANY($1::text[])', [[a1, a2, b1]]);
      const at = new Map(rows.map((r) => [r.id, new Date(r.claimed_at).getTime()]));
      expect(at.get(b1)!).toBeLessThan(at.get(a2)!);
      // Waiting at the limit is not an attempt: no job failed, none was retried.
      const failed = await conn.keys(`${prefix}:zkinfer-compile:failed`);
      expect(failed).toEqual([]);
    } finally {
      await workers.close();
      base = saved;
      await api.close();
      const keys = await conn.keys(`${prefix}:*`);
      if (keys.length) await conn.del(...keys);
      conn.disconnect();
      await db.close();
      redis.stop();
      await postgres.stop();
    }
  }, 900_000);
});

describe('queue settings', () => {
  it('reads COMPILE_WORKERS, PROVE_WORKERS, COMPILES_PER_TENANT and WORKER_QUEUES, and names every bad one', () => {
    const c = loadConfig({ COMPILE_WORKERS: '2', PROVE_WORKERS: '3', COMPILES_PER_TENANT: '4', WORKER_QUEUES: 'prove' });
    expect([c.compileWorkers, c.proveWorkers, c.compilesPerTenant, c.workerQueues]).toEqual([2, 3, 4, ['prove']]);
    expect(loadConfig({}).workerQueues).toEqual(['compile', 'prove']);
    expect(() => loadConfig({ COMPILE_WORKERS: '0', COMPILES_PER_TENANT: 'x', WORKER_QUEUES: 'compile,verify' })).toThrow(
      /COMPILE_WORKERS must be an integer >= 1.*COMPILES_PER_TENANT must be an integer >= 1.*WORKER_QUEUES must list compile and\/or prove/,
    );
  });
});
