// Service benchmark: submit-to-proof latency and proofs per minute with 1 and 2 worker
// processes, and /v1/verify requests per second, against a real Redis.
// Run by `npm run bench` (skipped, with the reason, when no Redis can be had).
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { buildApp } from '../src/api/app.ts';
import { loadConfig } from '../src/service/config.ts';
import { redisConnection } from '../src/queue/index.ts';
import { freshPostgres } from '../test/helpers/postgres.ts';
import { findRedis } from '../test/helpers/redis.ts';
import { REPO } from './models.ts';

const MODEL = path.join(REPO, 'examples', 'loan', 'loan-model.onnx');
const APPLICANT = path.join(REPO, 'examples', 'loan', 'applicant.json');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

export async function serviceBench(): Promise<string> {
  const redis = await findRedis();
  if (!redis.url) return `Service benchmark skipped: ${redis.why}.`;
  const postgres = await freshPostgres();
  if (!postgres.url) return `Service benchmark skipped: ${postgres.why}.`;
  const rows: string[] = [];
  const applicant = JSON.parse(await readFile(APPLICANT, 'utf8'));
  let verifyLine = '';
  for (const nWorkers of [1, 2]) {
    const prefix = `bench-${randomUUID()}`;
    const conn = redisConnection(redis.url);
    const app = await buildApp({
      config: {
        ...loadConfig({}),
        host: '127.0.0.1',
        port: 0,
        redisUrl: redis.url,
        databaseUrl: postgres.url,
        queuePrefix: prefix,
        workerConcurrency: 1,
        workerLockMs: 30_000,
        workerMetricsPort: null,
        bodyLimit: 1 << 24,
        requestTimeoutMs: 30_000,
        rateLimit: 1_000_000,
        apiKeys: [],
      },
      redis: conn,
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const workers: ChildProcess[] = Array.from({ length: nWorkers }, () =>
      spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'src', 'queue', 'worker-main.ts')], {
        cwd: REPO,
        env: { ...process.env, REDIS_URL: redis.url!, DATABASE_URL: postgres.url!, ZKINFER_QUEUE_PREFIX: prefix },
        stdio: ['ignore', 'ignore', 'inherit'],
      }),
    );
    const json = async (url: string, body?: unknown) =>
      (
        await fetch(base + url, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
      ).json() as Promise<any>;
    const form = new FormData();
    form.append('model', new Blob([await readFile(MODEL)]), 'loan-model.onnx');
    const { id: modelId } = (await (await fetch(`${base}/v1/models`, { method: 'POST', body: form })).json()) as { id: string };
    while ((await json(`/v1/models/${modelId}`)).status !== 'ready') await sleep(100);

    const run = async (n: number) => {
      const t0 = performance.now();
      const lat = await Promise.all(
        Array.from({ length: n }, async () => {
          const s = performance.now();
          const { id } = await json(`/v1/models/${modelId}/proofs`, { input: applicant });
          for (;;) {
            const r = await json(`/v1/proofs/${id}`);
            if (r.status === 'done') return performance.now() - s;
            if (r.status === 'failed') throw new Error(r.reason);
            await sleep(20);
          }
        }),
      );
      return { lat, seconds: (performance.now() - t0) / 1000 };
    };
    await run(2 * nWorkers); // warm every worker (model load, curve set-up)
    const { lat, seconds } = await run(40);
    rows.push(`| ${nWorkers} | 40 | ${pct(lat, 50).toFixed(0)} | ${pct(lat, 95).toFixed(0)} | ${((40 / seconds) * 60).toFixed(0)} |`);

    if (nWorkers === 1) {
      // Proofs from this run (the store may hold older ones, made with an earlier circuit):
      // each verified once (distinct proofs: the verdict cache cannot answer them), then one of
      // them again and again (answered from the cache after its first verification).
      const proofs = (await json(`/v1/proofs?modelId=${modelId}&limit=200`)).items as { id: string; status: string; createdAt: string }[];
      const done = proofs.filter((p) => p.status === 'done').sort((a, b) => b.createdAt.localeCompare(a.createdAt));
      const all = await Promise.all(done.map(async (p) => (await json(`/v1/proofs/${p.id}`)).bundle));
      // Start every verification process first (two proofs at once), then time the rest.
      await Promise.all(all.slice(0, 2).map((bundle) => json('/v1/verify', { bundle })));
      const bundles = all.slice(2);
      let next = 0;
      let t = performance.now();
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          for (let i = next++; i < bundles.length; i = next++) {
            if (!(await json('/v1/verify', { bundle: bundles[i] })).valid) throw new Error('bench bundle did not verify');
          }
        }),
      );
      const distinct = bundles.length / ((performance.now() - t) / 1000);
      const bundle = bundles[0];
      t = performance.now();
      const end = t + 5000;
      let count = 0;
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (performance.now() < end) {
            const r = await json('/v1/verify', { bundle });
            if (!r.valid) throw new Error('bench bundle did not verify');
            count++;
          }
        }),
      );
      verifyLine =
        `POST /v1/verify (loan example, 4 concurrent clients, API with one verification process per core): ${distinct.toFixed(0)} requests/s ` +
        `over ${bundles.length} distinct proofs, each verified once; ${(count / 5).toFixed(0)} requests/s for one bundle sent again and again ` +
        `for 5 s (the verdict cache answers it).`;
    }
    for (const w of workers) w.kill('SIGTERM');
    await app.close();
    const keys = await conn.keys(`${prefix}:*`);
    if (keys.length) await conn.del(...keys);
    conn.disconnect();
  }
  redis.stop();
  await postgres.stop();
  return [
    '## Service (loan example through the REST API, BullMQ on Redis, each worker one job at a time)',
    '',
    '| workers | proofs | submit-to-proof p50 ms | p95 ms | proofs per minute |',
    '|---|---|---|---|---|',
    ...rows,
    '',
    verifyLine,
    '',
    'The 40 proofs are submitted at once, so latency includes queueing; the client polls every 20 ms. API, workers and client share the 2 cores.',
  ].join('\n');
}
