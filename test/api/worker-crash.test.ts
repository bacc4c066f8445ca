import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.ts';
import { loadConfig } from '../../src/service/config.ts';
import { Queue } from 'bullmq';
import { DEFAULT_WORKER_LOCK_MS, redisConnection, startBullWorkers } from '../../src/queue/index.ts';
import { QUEUE_NAMES } from '../../src/queue/types.ts';
import { openDb } from '../../src/store/db.ts';
import { Stores } from '../../src/store/stores.ts';
import { verifyBundle } from '../../src/verifier/index.ts';
import { LOAN_APPLICANT, LOAN_MODEL, REPO } from '../helpers/paths.ts';
import { freshPostgres } from '../helpers/postgres.ts';
import { findRedis } from '../helpers/redis.ts';

const redis = await findRedis();
const postgres = await freshPostgres();
const why = redis.url ? postgres.why : redis.why;
if (why) console.warn(`skipping the worker crash test: ${why}`);

describe.skipIf(!redis.url || !postgres.url)('a worker killed with SIGKILL in the middle of a proof', () => {
  const prefix = `test-${randomUUID()}`;
  let app: FastifyInstance;
  let base: string;
  let conn: Redis;
  const workers: ChildProcess[] = [];
  // The killed worker's lock errors are expected: kept, and printed only if the test fails.
  let workerStderr = '';
  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') process.stderr.write(workerStderr);
  });

  const workerEnv = { ...process.env };
  delete workerEnv.WORKER_LOCK_MS;
  const startWorker = () => {
    const w = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'src', 'queue', 'worker-main.ts')], {
      cwd: REPO,
      // The default lock (WORKER_LOCK_MS unset): what an operator gets.
      env: { ...workerEnv, REDIS_URL: redis.url!, DATABASE_URL: postgres.url!, ZKINFER_QUEUE_PREFIX: prefix },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    w.stderr!.on('data', (d: Buffer) => (workerStderr += `[worker ${w.pid}] ${d}`));
    workers.push(w);
    return w;
  };
  const get = async (url: string) => (await fetch(base + url)).json() as Promise<any>;

  beforeAll(async () => {
    conn = redisConnection(redis.url!);
    conn.on('error', () => {});
    app = await buildApp({
      config: {
        ...loadConfig({}),
        reconcileIntervalMs: 500,
        host: '127.0.0.1',
        port: 0,
        redisUrl: redis.url,
        databaseUrl: postgres.url,
        queuePrefix: prefix,
        workerConcurrency: 1,
        workerMetricsPort: null,
        bodyLimit: 1 << 22,
        requestTimeoutMs: 30_000,
        rateLimit: 10_000,
        apiKeys: [],
      },
      redis: conn,
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  });

  afterAll(async () => {
    for (const w of workers) w.kill('SIGKILL');
    await app?.close();
    const keys = await conn.keys(`${prefix}:*`);
    if (keys.length) await conn.del(...keys);
    conn?.disconnect();
    redis.stop();
    await postgres.stop();
  });

  it('completes on another worker within 1.5 x the default lock (15 s), with exactly one proof stored', async () => {
    expect(loadConfig({}).workerLockMs).toBe(DEFAULT_WORKER_LOCK_MS);
    const proveQueue = new Queue(QUEUE_NAMES.prove, { connection: conn, prefix });
    const first = startWorker();
    const form = new FormData();
    form.append('model', new Blob([await readFile(LOAN_MODEL)]), 'loan-model.onnx');
    // Another scale than the API tests use: its own circuit and key.
    form.append('scale', '9');
    const { id: modelId } = (await (await fetch(`${base}/v1/models`, { method: 'POST', body: form })).json()) as { id: string };
    for (let i = 0; i < 960 && (await get(`/v1/models/${modelId}`)).status !== 'ready'; i++) await new Promise((r) => setTimeout(r, 250));

    const applicant = JSON.parse(await readFile(LOAN_APPLICANT, 'utf8'));
    const res = await fetch(`${base}/v1/models/${modelId}/proofs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: applicant }),
    });
    const { id: proofId } = (await res.json()) as { id: string };
    // Kill the worker the moment it starts proving.
    let seen = '';
    for (let i = 0; i < 2000; i++) {
      seen = (await get(`/v1/proofs/${proofId}`)).status;
      if (seen !== 'queued') break;
      await new Promise((r) => setTimeout(r, 5));
    }
    const taken = (await proveQueue.getJob(proofId))?.processedOn;
    first.kill('SIGKILL');
    const killedAt = Date.now();
    expect(seen).toBe('proving');
    expect(taken).toBeGreaterThan(0);

    const second = startWorker();
    let rec: any;
    for (let i = 0; i < 240; i++) {
      rec = await get(`/v1/proofs/${proofId}`);
      if (rec.status === 'done' || rec.status === 'failed') break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(rec.status, JSON.stringify(rec)).toBe('done');
    expect(rec.worker).toMatch(new RegExp(`:${second.pid}$`));
    // When the second worker took the job: its lock expired (at most 10 s after the kill,
    // renewed every 5 s before it) and a stall check (every 5 s) handed it over.
    const retakenAt = (await proveQueue.getJob(proofId))!.processedOn!;
    const recovery = retakenAt - killedAt;
    console.log(`a killed worker's proof was taken over ${(recovery / 1000).toFixed(1)} s after the kill (bound 15 s)`);
    expect(retakenAt).toBeGreaterThan(taken!);
    expect(recovery).toBeLessThanOrEqual(1.5 * DEFAULT_WORKER_LOCK_MS + 1000);
    await proveQueue.close();
    expect((await verifyBundle(rec.bundle)).valid).toBe(true);
    const all = await app.stores.proofs.list({ modelId, limit: 200 });
    expect(all.items.filter((p) => p.id === proofId)).toHaveLength(1);
    expect(await app.stores.proofs.hasRequest(proofId)).toBe(false); // the private input is gone
  });

  it('a job running for 4 x its lock is not taken as stalled: its lock is renewed while it runs', async () => {
    // Two live workers with a 1 s lock, stall checks every 0.5 s: without renewal the job
    // would be handed to the other worker after about 1.5 s, run twice, and fail as stalled.
    const db = await openDb({ dir: 'memory://' });
    const stores = new Stores(db);
    const longPrefix = `${prefix}-long`;
    const runs: string[] = [];
    const processors = (name: string) => ({
      compile: async () => {},
      prove: async () => {
        runs.push(name);
        await new Promise((r) => setTimeout(r, 4000));
      },
    });
    const started = ['a', 'b'].map((n) =>
      startBullWorkers({ redisUrl: redis.url!, prefix: longPrefix, concurrency: 1, lockMs: 1000, processors: processors(n), stores, queues: ['prove'] }),
    );
    const q = new Queue(QUEUE_NAMES.prove, { connection: conn, prefix: longPrefix });
    try {
      await q.add('prove', { proofId: 'long' }, { jobId: 'long', attempts: 1 });
      let state = '';
      for (let i = 0; i < 120 && state !== 'completed' && state !== 'failed'; i++) {
        await new Promise((r) => setTimeout(r, 100));
        state = await q.getJobState('long');
      }
      expect(state, (await q.getJob('long'))?.failedReason).toBe('completed');
      expect(runs).toHaveLength(1);
    } finally {
      await Promise.all(started.map((w) => w.close()));
      await q.obliterate({ force: true });
      await q.close();
      await db.close();
    }
  });
});
