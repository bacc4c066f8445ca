// Three machines, as an operator deploys them: the API and two workers as separate
// processes, each with its OWN artifacts folder, sharing only PostgreSQL and Redis. The
// model is uploaded to the API, compiled on whichever worker takes it, proven on both;
// verification over REST, the verification page and the artifact downloads work from the
// API's folder, which never saw the circuit being made. A worker killed while it holds a
// proof loses nothing (the other finishes it); stored bytes changed by one byte are refused
// naming the artifact (a download is a 409, a proof on a new worker fails), and a changed
// cached copy is fetched again.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_NAMES } from '../../src/queue/types.ts';
import { verifyBundle } from '../../src/verifier/index.ts';
import { freePort } from '../chaos/harness.ts';
import { LOAN_APPLICANT, LOAN_MODEL, REPO } from '../helpers/paths.ts';
import { freshPostgres } from '../helpers/postgres.ts';
import { findRedis } from '../helpers/redis.ts';

const redis = await findRedis();
const postgres = await freshPostgres();
const why = redis.url ? postgres.why : redis.why;
if (why) console.warn(`skipping the scale-out test: ${why}`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe.skipIf(!redis.url || !postgres.url)('an API and two workers on machines of their own, sharing only PostgreSQL and Redis', () => {
  const prefix = `test-${randomUUID()}`;
  const procs: { name: string; child: ChildProcess; log: string[] }[] = [];
  const folders: Record<string, string> = {};
  let base = '';
  let conn: Redis;
  let db: pg.Client;
  let modelId = '';
  let workerEnv: NodeJS.ProcessEnv = {};
  /** The worker that compiled the model (the other one has only the store to get it from). */
  let compiler = '';
  const proofIds: string[] = [];

  const start = (name: string, script: string, env: NodeJS.ProcessEnv) => {
    // A process group of its own: killed whole (the worker's child processes too), by its id only.
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'src', ...script.split('/'))], {
      cwd: REPO,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const log: string[] = [];
    const keep = (d: Buffer) => log.push(...d.toString('utf8').split('\n').filter(Boolean));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    procs.push({ name, child, log });
    return child;
  };
  const killGroup = (c: ChildProcess) => {
    if (c.pid && c.exitCode === null) {
      try {
        process.kill(-c.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  const get = async (url: string) => (await fetch(base + url)).json() as Promise<any>;
  const dump = () => procs.map((p) => `--- ${p.name} (pid ${p.child.pid})\n${p.log.slice(-40).join('\n')}`).join('\n');

  beforeAll(async () => {
    conn = new Redis(redis.url!);
    conn.on('error', () => {});
    db = new pg.Client({ connectionString: postgres.url! });
    await db.connect();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      HOST: '127.0.0.1',
      REDIS_URL: redis.url!,
      DATABASE_URL: postgres.url!,
      ZKINFER_QUEUE_PREFIX: prefix,
      RECONCILE_INTERVAL_MS: '500',
      RATE_LIMIT_PER_MINUTE: '100000',
      // A short lock: a killed worker's proof is handed over within about 3 s.
      WORKER_LOCK_MS: '2000',
      ZKINFER_ARTIFACT_STORE: 'postgres',
    };
    for (const k of ['ZKINFER_API_KEYS', 'ZKINFER_DB_DIR', 'ADMIN_PORT', 'METRICS_PORT', 'WORKER_QUEUES']) delete env[k];
    for (const n of ['api', 'worker-a', 'worker-b']) folders[n] = await mkdtemp(path.join(tmpdir(), `zkinfer-${n}-`));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    start('api', 'api/server.ts', { ...env, PORT: String(port), ZKINFER_ARTIFACTS: folders.api });
    for (let i = 0; i < 240; i++) {
      if ((await fetch(`${base}/healthz`).catch(() => null))?.ok) break;
      await sleep(250);
    }
    workerEnv = env;
    start('worker-a', 'queue/worker-main.ts', { ...env, ZKINFER_ARTIFACTS: folders['worker-a'] });
    start('worker-b', 'queue/worker-main.ts', { ...env, ZKINFER_ARTIFACTS: folders['worker-b'] });
  }, 90_000);

  afterAll(async () => {
    for (const p of procs) killGroup(p.child);
    await db?.end().catch(() => {});
    const keys = await conn.keys(`${prefix}:*`);
    if (keys.length) await conn.del(...keys);
    conn?.disconnect();
    redis.stop();
    await postgres.stop();
    for (const f of Object.values(folders)) await rm(f, { recursive: true, force: true });
  });

  it('uploads to the API and compiles on a worker: the circuit and key reach the store, not the API\u2019s folder', async () => {
    const form = new FormData();
    form.append('model', new Blob([await readFile(LOAN_MODEL)]), 'loan-model.onnx');
    const up = await fetch(`${base}/v1/models`, { method: 'POST', body: form });
    expect(up.status, await up.clone().text()).toBeLessThan(300);
    modelId = ((await up.json()) as { id: string }).id;
    let rec: any;
    for (let i = 0; i < 960; i++) {
      rec = await get(`/v1/models/${modelId}`);
      if (rec.status === 'ready' || rec.status === 'failed') break;
      await sleep(250);
    }
    expect(rec.status, `${JSON.stringify(rec)}\n${dump()}`).toBe('ready');
    const units = (await db.query('SELECT path FROM artifact_units ORDER BY path')).rows.map((r) => r.path as string);
    expect(units.some((u) => /^circuits\/[0-9a-f]{64}$/.test(u))).toBe(true);
    expect(units.some((u) => /^circuits\/[0-9a-f]{64}\/setup-[0-9a-f]{16}$/.test(u))).toBe(true);
    // The upload is stored by the API; the compiling worker fetched it into its own folder.
    const uploads = (await db.query("SELECT path FROM artifact_files WHERE path LIKE 'uploads/%'")).rows;
    expect(uploads.map((r) => r.path)).toEqual([`uploads/${modelId}/loan-model.onnx`]);
    const compiledOn = [];
    for (const w of ['worker-a', 'worker-b']) {
      if (await stat(path.join(folders[w], 'uploads', modelId, 'loan-model.onnx')).catch(() => null)) compiledOn.push(w);
    }
    expect(compiledOn).toHaveLength(1);
    compiler = compiledOn[0];
    expect(await stat(path.join(folders.api, 'circuits')).catch(() => null)).toBeNull();
  }, 300_000);

  it('proves 6 requests; the compiling worker, killed holding one, loses nothing: the other gets the model from the store and finishes it', async () => {
    const applicant = JSON.parse(await readFile(LOAN_APPLICANT, 'utf8'));
    const posted = await Promise.all(
      Array.from({ length: 6 }, () =>
        fetch(`${base}/v1/models/${modelId}/proofs`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ input: applicant }),
        }),
      ),
    );
    for (const r of posted) {
      expect(r.status).toBe(202);
      proofIds.push(((await r.json()) as { id: string }).id);
    }
    // Kill the worker that compiled the model the moment it is seen holding a proof.
    const victim = procs.find((p) => p.name === compiler)!;
    const survivor = procs.find((p) => p.name.startsWith('worker') && p !== victim)!;
    const q = new Queue(QUEUE_NAMES.prove, { connection: conn, prefix });
    let held: { id: string; by: string } | null = null;
    for (let i = 0; i < 3000 && !held; i++) {
      // Taken in the last 150 ms: still proving (loading the key and proving take longer), not finishing.
      for (const j of await q.getActive()) {
        if (j.id && j.processedBy?.endsWith(`:${victim.child.pid}`) && Date.now() - (j.processedOn ?? 0) < 150) held = { id: j.id, by: j.processedBy };
      }
      if (!held) await sleep(10);
    }
    expect(held, dump()).not.toBeNull();
    killGroup(victim.child);
    expect((await get(`/v1/proofs/${held!.id}`)).status).not.toBe('done');

    const done: any[] = [];
    for (const id of proofIds) {
      let rec: any;
      for (let i = 0; i < 480; i++) {
        rec = await get(`/v1/proofs/${id}`);
        if (rec.status === 'done' || rec.status === 'failed') break;
        await sleep(250);
      }
      expect(rec.status, `${JSON.stringify(rec)}\n${dump()}`).toBe('done');
      done.push(rec);
    }
    await q.close();
    const heldRec = done.find((r) => r.id === held!.id);
    expect(heldRec.worker).toMatch(new RegExp(`:${survivor.child.pid}$`));
    // The survivor never compiled: it took the upload, the circuit and the key from the store into its own folder.
    const [zkey] = (await db.query("SELECT path FROM artifact_files WHERE path LIKE 'circuits/%/setup-%/circuit.zkey'")).rows;
    expect(await stat(path.join(folders[survivor.name], ...zkey.path.split('/')))).toBeTruthy();
    console.log(
      `6 proofs: ${done.filter((r) => r.worker.endsWith(`:${victim.child.pid}`)).length} by the compiling worker before it was killed, ` +
        `${done.filter((r) => r.worker.endsWith(`:${survivor.child.pid}`)).length} by the other (the one held at the kill included)`,
    );
    // Each proof verifies over REST, against the registered key, and offline.
    for (const rec of done) {
      const v = await fetch(`${base}/v1/verify`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ bundle: rec.bundle }),
      });
      const body = (await v.json()) as { valid: boolean; reason: string };
      expect(body.valid, body.reason).toBe(true);
      expect((await verifyBundle(rec.bundle)).valid).toBe(true);
    }
    // The request keys are gone (crypto-shredded) and no private request is left.
    expect(await conn.keys(`${prefix}:request-key:*`)).toEqual([]);
    expect((await db.query('SELECT count(*)::int AS n FROM proof_requests')).rows[0].n).toBe(0);
  }, 240_000);

  it('serves the verification page, the key and every artifact download from the API\u2019s own folder', async () => {
    const page = await fetch(`${base}/verify`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<html');
    const vkey = await fetch(`${base}/v1/models/${modelId}/vkey`);
    expect(vkey.status).toBe(200);
    const bundle = await get(`/v1/proofs/${proofIds[0]}`);
    expect(bundle.bundle.vkeyHash ?? bundle.bundle.model?.vkeyHash).toBeTruthy();
    const model = await get(`/v1/models/${modelId}`);
    for (const kind of ['model', 'r1cs', 'zkey', 'circuit', 'ptau']) {
      const r = await fetch(`${base}/v1/models/${modelId}/artifacts/${kind}`);
      expect(r.status, `${kind}: ${r.status} ${r.status === 200 ? '' : await r.text()}`).toBe(200);
      const bytes = new Uint8Array(await r.arrayBuffer());
      expect(sha256(bytes), kind).toBe(r.headers.get('x-zkinfer-sha256'));
      if (kind === 'model') expect(sha256(bytes)).toBe(sha256(await readFile(LOAN_MODEL)));
    }
    expect(model.status).toBe('ready');
  });

  it('refuses stored bytes changed by one byte, naming the artifact; a changed cached copy is fetched again', async () => {
    const [r1cs] = (await db.query("SELECT path, sha256 FROM artifact_files WHERE path LIKE 'circuits/%/main.r1cs'")).rows as {
      path: string;
      sha256: string;
    }[];
    const apiCopy = path.join(folders.api, ...r1cs.path.split('/'));
    // The download above cached it in the API's folder: drop that copy, so the next read is from the store.
    await rm(apiCopy);
    const flip = async () => {
      const { rows } = await db.query('SELECT data FROM artifact_parts WHERE sha256 = $1 AND part = 0', [r1cs.sha256]);
      const data = rows[0].data as Buffer;
      data[200] ^= 0x01;
      await db.query('UPDATE artifact_parts SET data = $2 WHERE sha256 = $1 AND part = 0', [r1cs.sha256, data]);
    };
    await flip();
    const bad = await fetch(`${base}/v1/models/${modelId}/artifacts/r1cs`);
    const body = (await bad.json()) as { error?: { code?: string; message?: string }; code?: string; message?: string };
    expect(bad.status).toBe(409);
    expect(JSON.stringify(body)).toContain('ARTIFACT_CORRUPT');
    expect(JSON.stringify(body)).toContain(r1cs.path);
    expect(await stat(apiCopy).catch(() => null)).toBeNull(); // never placed where it would be served
    await flip(); // restored

    const good = await fetch(`${base}/v1/models/${modelId}/artifacts/r1cs`);
    expect(good.status).toBe(200);
    expect(sha256(new Uint8Array(await good.arrayBuffer()))).toBe(r1cs.sha256);
    // Now the API's cached copy changes by one byte: the next download fetches the stored bytes again.
    const cached = await readFile(apiCopy);
    cached[200] ^= 0x01;
    await writeFile(apiCopy, cached);
    const again = await fetch(`${base}/v1/models/${modelId}/artifacts/r1cs`);
    expect(again.status).toBe(200);
    expect(sha256(new Uint8Array(await again.arrayBuffer()))).toBe(r1cs.sha256);
    expect(sha256(await readFile(apiCopy))).toBe(r1cs.sha256);
  });

  it('a worker on a new machine refuses a stored zkey changed by one byte: the proof fails naming it, never proven with', async () => {
    const [zkey] = (await db.query("SELECT path, sha256 FROM artifact_files WHERE path LIKE 'circuits/%/setup-%/circuit.zkey'")).rows as {
      path: string;
      sha256: string;
    }[];
    const { rows } = await db.query('SELECT data FROM artifact_parts WHERE sha256 = $1 AND part = 0', [zkey.sha256]);
    const data = rows[0].data as Buffer;
    data[1000] ^= 0x01;
    await db.query('UPDATE artifact_parts SET data = $2 WHERE sha256 = $1 AND part = 0', [zkey.sha256, data]);
    // The worker left has the key in memory: it goes, and a worker with an empty folder takes the next proof.
    for (const p of procs) if (p.name.startsWith('worker')) killGroup(p.child);
    folders['worker-c'] = await mkdtemp(path.join(tmpdir(), 'zkinfer-worker-c-'));
    start('worker-c', 'queue/worker-main.ts', { ...workerEnv, ZKINFER_ARTIFACTS: folders['worker-c'] });
    const r = await fetch(`${base}/v1/models/${modelId}/proofs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: JSON.parse(await readFile(LOAN_APPLICANT, 'utf8')) }),
    });
    const { id } = (await r.json()) as { id: string };
    let rec: any;
    for (let i = 0; i < 480; i++) {
      rec = await get(`/v1/proofs/${id}`);
      if (rec.status === 'done' || rec.status === 'failed') break;
      await sleep(250);
    }
    expect(rec.status, `${JSON.stringify(rec)}\n${dump()}`).toBe('failed');
    console.log(`a corrupt stored zkey: the proof failed with "${rec.reason}"`);
    expect(rec.reason).toContain(zkey.path);
    expect(rec.reason).toContain(zkey.sha256);
    expect(await stat(path.join(folders['worker-c'], ...zkey.path.split('/'))).catch(() => null)).toBeNull();
    expect(await conn.keys(`${prefix}:request-key:*`)).toEqual([]);
  }, 120_000);
});
