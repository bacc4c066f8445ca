import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import createClient from 'openapi-fetch';
import { openapiClientTypes, openapiYaml } from '../../src/api/openapi.ts';
import type { paths } from '../../src/api/openapi-types.ts';
import { buildApp } from '../../src/api/app.ts';
import type { Config } from '../../src/config.ts';
import { BullJobQueue, redisConnection } from '../../src/queue/index.ts';
import { ModelStore } from '../../src/store/model-store.ts';
import { FIELD_ORDER } from '../../src/quant/index.ts';
import { BrowserProvider, Interface } from 'ethers';
import { decodeRevert, deployContracts, startDevChain } from '../../src/chain/index.ts';
import { findRedis } from '../helpers/redis.ts';
import { CLI, LOAN_APPLICANT, LOAN_MODEL, REPO } from '../helpers/paths.ts';

const redis = await findRedis();
const workerMetricsPort = 20000 + Math.floor(Math.random() * 20000);
if (!redis.url) console.warn(`skipping the service tests: ${redis.why}`);

const KEYS = {
  bank: 'bank-prover-key-0123456789',
  regulator: 'regulator-verifier-key-0123',
  other: 'other-bank-prover-key-98765',
};

function config(over: Partial<Config> = {}): Config {
  return {
    host: '127.0.0.1',
    port: 0,
    redisUrl: redis.url,
    queuePrefix: `test-${randomUUID()}`,
    workerConcurrency: 1,
    workerLockMs: 30_000,
    workerMetricsPort: null,
    bodyLimit: 2 * 1024 * 1024,
    requestTimeoutMs: 30_000,
    rateLimit: 10_000,
    apiKeys: [
      { key: KEYS.bank, role: 'prover', tenant: 'bank' },
      { key: KEYS.regulator, role: 'verifier', tenant: 'bank' },
      { key: KEYS.other, role: 'prover', tenant: 'other' },
    ],
    ...over,
  };
}

async function poll<T>(fn: () => Promise<T>, done: (v: T) => boolean, ms = 240_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (done(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe.skipIf(!redis.url)('REST API with BullMQ workers on Redis', () => {
  let app: FastifyInstance;
  let base: string;
  let worker: ChildProcess;
  let conn: Redis;
  let queue: BullJobQueue;
  let cfg: Config;
  let modelId: string;
  let bundle: Record<string, unknown> & { publicSignals: string[] };
  let proofId: string;

  const call = async (method: string, url: string, key: string | null, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(base + url, {
      method,
      headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let json: any = null;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: res.status, body: json, headers: res.headers };
  };

  beforeAll(async () => {
    cfg = config();
    conn = redisConnection(redis.url!);
    queue = new BullJobQueue({ redisUrl: redis.url!, prefix: cfg.queuePrefix });
    app = await buildApp({ config: cfg, queue, redis: conn });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address() as { port: number };
    base = `http://127.0.0.1:${addr.port}`;
    worker = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'src', 'queue', 'worker-main.ts')], {
      cwd: REPO,
      env: { ...process.env, REDIS_URL: redis.url!, ZKINFER_QUEUE_PREFIX: cfg.queuePrefix, METRICS_PORT: String(workerMetricsPort) },
      stdio: ['ignore', 'inherit', 'inherit'],
    });

    const form = new FormData();
    form.append('model', new Blob([await readFile(LOAN_MODEL)]), 'loan-model.onnx');
    const up = await fetch(`${base}/v1/models`, { method: 'POST', headers: { authorization: `Bearer ${KEYS.bank}` }, body: form });
    expect(up.status).toBe(202);
    modelId = ((await up.json()) as { id: string }).id;
    const ready = await poll(() => call('GET', `/v1/models/${modelId}`, KEYS.bank), (r) => r.body.status === 'ready' || r.body.status === 'failed');
    expect(ready.body.status, JSON.stringify(ready.body)).toBe('ready');
  });

  afterAll(async () => {
    worker?.kill('SIGTERM');
    await app?.close();
    await queue?.close();
    const keys = await conn.keys(`${cfg.queuePrefix}:*`);
    if (keys.length) await conn.del(...keys);
    conn?.disconnect();
    redis.stop();
  });

  it('uploads, proves through the worker, and verifies through /v1/verify and the CLI', async () => {
    const model = await call('GET', `/v1/models/${modelId}`, KEYS.regulator);
    expect(model.body).toMatchObject({ id: modelId, status: 'ready', head: 'sigmoid' });
    expect(model.body.constraints).toBeGreaterThan(1000);
    expect(model.body.tenant).toBeUndefined();
    const vkey = await call('GET', `/v1/models/${modelId}/vkey`, KEYS.regulator);
    expect(vkey.body.protocol).toBe('groth16');

    const applicant = JSON.parse(await readFile(LOAN_APPLICANT, 'utf8'));
    const req = await call('POST', `/v1/models/${modelId}/proofs`, KEYS.bank, { input: applicant, nonce: '77' }, { 'idempotency-key': randomUUID() });
    expect(req.status).toBe(202);
    proofId = req.body.id;
    const done = await poll(() => call('GET', `/v1/proofs/${proofId}`, KEYS.bank), (r) => r.body.status === 'done' || r.body.status === 'failed');
    expect(done.body.status, JSON.stringify(done.body)).toBe('done');
    bundle = done.body.bundle;
    expect(bundle.publicSignals.at(-1)).toBe('77');
    expect(done.body.timings.proveMs).toBeGreaterThan(0);

    const ok = await call('POST', '/v1/verify', KEYS.regulator, { bundle });
    expect(ok.body).toMatchObject({ valid: true, modelId });
    const parts = await call('POST', '/v1/verify', KEYS.regulator, { modelId, proof: bundle.proof, publicSignals: bundle.publicSignals });
    expect(parts.body).toMatchObject({ valid: true, modelId });
    const wrongSignals = await call('POST', '/v1/verify', KEYS.regulator, { modelId, proof: bundle.proof, publicSignals: [...bundle.publicSignals.slice(0, -1), '78'] });
    expect(wrongSignals.body.valid).toBe(false);
    const tampered = structuredClone(bundle);
    tampered.publicSignals[2] = ((BigInt(tampered.publicSignals[2]) + 1n) % FIELD_ORDER).toString();
    const bad = await call('POST', '/v1/verify', KEYS.regulator, { bundle: tampered });
    expect(bad.status).toBe(200);
    expect(bad.body.valid).toBe(false);

    const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-api-'));
    await writeFile(path.join(dir, 'bundle.json'), JSON.stringify(bundle));
    const cli = spawnSync(process.execPath, [CLI, 'verify', path.join(dir, 'bundle.json'), '--vkey', path.join(dir, 'vkey.json')], { cwd: REPO, encoding: 'utf8', input: '' });
    expect(cli.status, cli.stderr).toBe(2); // the vkey file does not exist yet: unusable input
    await writeFile(path.join(dir, 'vkey.json'), JSON.stringify(vkey.body));
    const cliOk = spawnSync(process.execPath, [CLI, 'verify', path.join(dir, 'bundle.json'), '--vkey', path.join(dir, 'vkey.json')], { cwd: REPO, encoding: 'utf8' });
    expect(cliOk.status, cliOk.stderr).toBe(0);
    expect(cliOk.stdout).toMatch(/^VALID/);

    const receipt = await call('GET', `/v1/proofs/${proofId}/receipt`, KEYS.bank);
    expect(receipt.body.inputCommitment).toBe(bundle.publicSignals[1]);
    expect((await call('GET', `/v1/proofs/${proofId}/receipt`, KEYS.regulator)).status).toBe(403);
    expect(JSON.stringify(done.body)).not.toContain(receipt.body.salt);

    const listed = await call('GET', `/v1/proofs?modelId=${modelId}`, KEYS.bank);
    expect(listed.body.map((p: { id: string }) => p.id)).toContain(proofId);
    const metrics = await call('GET', '/metrics', null);
    expect(metrics.body).toMatch(/zkinfer_verifications_total\{result="valid"\} 2/);
    expect(metrics.body).toMatch(/zkinfer_queue_depth/);
    const workerMetrics = await (await fetch(`http://127.0.0.1:${workerMetricsPort}/metrics`)).text();
    expect(workerMetrics).toMatch(/zkinfer_job_seconds_count\{queue="prove",stage="prove",outcome="ok"\} [1-9]/);
  });

  it('serves the Solidity verifier, the registry and calldata that an EVM accepts', async () => {
    const sol = await call('GET', `/v1/models/${modelId}/verifier.sol`, KEYS.regulator);
    expect(sol.status).toBe(200);
    expect(sol.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(sol.body).toContain('contract Groth16Verifier');
    const contracts = await call('GET', `/v1/models/${modelId}/contracts`, KEYS.regulator);
    expect(contracts.body.verifier.source).toBe(sol.body);
    expect(contracts.body.compiler.version).toMatch(/^0\.8\.37/);
    expect(contracts.body.registry.source).toContain(`MODEL_COMMITMENT = ${bundle.publicSignals[0]}`);
    const calldata = await call('GET', `/v1/proofs/${proofId}/calldata`, KEYS.bank);
    expect(calldata.status).toBe(200);
    expect(calldata.body.pubSignals.map((w: string) => BigInt(w).toString())).toEqual(bundle.publicSignals);

    const chain = await startDevChain();
    const provider = new BrowserProvider(chain.provider);
    const d = await deployContracts(await provider.getSigner(0), contracts.body);
    expect(BigInt(await provider.call({ to: d.verifier.address, data: calldata.body.calldata.verifyProof }))).toBe(1n);
    await (await (await provider.getSigner(0)).sendTransaction({ to: d.registry.address, data: calldata.body.calldata.attest })).wait();
    const replay = await (await provider.getSigner(0)).sendTransaction({ to: d.registry.address, data: calldata.body.calldata.attest }).catch((e: unknown) => e);
    expect(decodeRevert(new Interface(contracts.body.registry.abi), replay)?.name).toBe('NonceUsed');

    expect((await call('GET', `/v1/models/${'0'.repeat(64)}/verifier.sol`, KEYS.regulator)).body).toMatchObject({ code: 'NOT_FOUND', field: 'id' });
    expect((await call('GET', '/v1/proofs/nope/calldata', KEYS.bank)).status).toBe(404);
    expect((await call('GET', `/v1/models/${modelId}/contracts`, null)).status).toBe(401);
  });

  it('works end to end through a client generated from openapi.yaml', async () => {
    const client = createClient<paths>({ baseUrl: base, headers: { authorization: `Bearer ${KEYS.bank}` } });
    const model = await client.GET('/v1/models/{id}', { params: { path: { id: modelId } } });
    expect(model.data?.status).toBe('ready');
    const applicant = JSON.parse(await readFile(LOAN_APPLICANT, 'utf8'));
    const accepted = await client.POST('/v1/models/{id}/proofs', { params: { path: { id: modelId }, header: {} }, body: { input: applicant } });
    expect(accepted.response.status).toBe(202);
    const id = accepted.data!.id;
    const done = await poll(
      async () => (await client.GET('/v1/proofs/{id}', { params: { path: { id } } })).data!,
      (p) => p.status === 'done' || p.status === 'failed',
    );
    expect(done.status).toBe('done');
    const verifier = createClient<paths>({ baseUrl: base, headers: { authorization: `Bearer ${KEYS.regulator}` } });
    const v = await verifier.POST('/v1/verify', { body: { bundle: done.bundle! } });
    expect(v.data).toMatchObject({ valid: true, modelId });
    const missing = await client.GET('/v1/models/{id}', { params: { path: { id: '0'.repeat(64) } } });
    expect(missing.response.status).toBe(404);
    expect(missing.error).toMatchObject({ code: 'NOT_FOUND', field: 'id' });
  });

  it('makes one job of 50 concurrent requests with one Idempotency-Key; another payload is a 409', async () => {
    const key = randomUUID();
    const applicant = JSON.parse(await readFile(LOAN_APPLICANT, 'utf8'));
    const rs = await Promise.all(Array.from({ length: 50 }, () => call('POST', `/v1/models/${modelId}/proofs`, KEYS.bank, { input: applicant }, { 'idempotency-key': key })));
    expect(rs.every((r) => r.status === 202)).toBe(true);
    expect(new Set(rs.map((r) => r.body.id)).size).toBe(1);
    const other = await call('POST', `/v1/models/${modelId}/proofs`, KEYS.bank, { input: { ...applicant, age: 41 } }, { 'idempotency-key': key });
    expect(other.status).toBe(409);
    expect(other.body.code).toBe('IDEMPOTENCY_CONFLICT');
    const jobs = await queue.depth();
    expect(jobs.prove).toBeLessThanOrEqual(1);
  });

  it('answers bad requests with a documented 4xx naming the problem', async () => {
    const p = `/v1/models/${modelId}/proofs`;
    const applicant = JSON.parse(await readFile(LOAN_APPLICANT, 'utf8'));
    const cases: [Promise<{ status: number; body: any }>, number, string, string?][] = [
      [call('POST', p, KEYS.bank, { input: applicant, colour: 'red' }), 400, 'VALIDATION', 'body.colour'],
      [call('POST', p, KEYS.bank, { input: applicant, nonce: 5 }), 400, 'VALIDATION', 'body.nonce'],
      [call('POST', p, KEYS.bank, { input: applicant, nonce: FIELD_ORDER.toString() }), 400, 'VALIDATION', 'body.nonce'],
      [call('POST', p, KEYS.bank, { input: { ...applicant, age: undefined } }), 400, 'INPUT_SHAPE', 'age'],
      [call('POST', p, KEYS.bank, { input: { ...applicant, income: 'high' } }), 400, 'INPUT_VALUE', 'income'],
      [call('POST', p, KEYS.bank, '{"input": {}, "__proto__": {"x": 1}}'), 400, 'FST_ERR_CTP_INVALID_JSON_BODY'],
      [call('POST', p, KEYS.bank, 'x'.repeat(3 * 1024 * 1024)), 413, 'FST_ERR_CTP_BODY_TOO_LARGE'],
      [call('POST', '/v1/verify', KEYS.regulator, 'hello', { 'content-type': 'text/plain' }), 415, 'FST_ERR_CTP_INVALID_MEDIA_TYPE'],
      [call('POST', `/v1/models/${'0'.repeat(64)}/proofs`, KEYS.bank, { input: applicant }), 404, 'NOT_FOUND', 'id'],
      [call('POST', p, null, { input: applicant }), 401, 'UNAUTHENTICATED', 'authorization'],
      [call('POST', p, 'not-a-key-at-all-000000', { input: applicant }), 401, 'UNAUTHENTICATED', 'authorization'],
      [call('POST', p, KEYS.regulator, { input: applicant }), 403, 'FORBIDDEN', 'authorization'],
      [call('POST', p, KEYS.other, { input: applicant }), 404, 'NOT_FOUND', 'id'],
      [call('GET', `/v1/proofs/${proofId}`, KEYS.other), 404, 'NOT_FOUND', 'id'],
      [call('POST', '/v1/verify', KEYS.regulator, { bundle: { format: 'zkinfer.proof-bundle' } }), 400, 'BUNDLE_INVALID'],
    ];
    for (const [res, status, code, field] of cases) {
      const r = await res;
      expect(r.status, JSON.stringify(r.body).slice(0, 300)).toBe(status);
      expect(r.body.code).toBe(code);
      if (field) expect(r.body.field).toBe(field);
    }
    // A model that is not ready yet.
    const store = new ModelStore();
    const rec = (await store.get(modelId))!;
    const pendingId = 'f'.repeat(64);
    await store.put({ ...rec, id: pendingId, status: 'compiling' });
    const notReady = await call('POST', `/v1/models/${pendingId}/proofs`, KEYS.bank, { input: applicant });
    expect(notReady).toMatchObject({ status: 409, body: { code: 'MODEL_NOT_READY' } });
    // A bad model upload is refused at once, naming the op.
    const form = new FormData();
    form.append('model', new Blob([Buffer.from('garbage, not onnx')]), 'junk.onnx');
    const junk = await fetch(`${base}/v1/models`, { method: 'POST', headers: { authorization: `Bearer ${KEYS.bank}` }, body: form });
    expect(junk.status).toBe(400);
    expect(((await junk.json()) as { code: string }).code).toBe('MODEL_UNREADABLE');
  });

  it('limits the request rate per key with 429 and Retry-After', async () => {
    const limited = await buildApp({ config: config({ rateLimit: 3 }), queue, redis: conn });
    await limited.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(limited.server.address() as { port: number }).port}/v1/models`;
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 5; i++) {
      const r = await fetch(url, { headers: { authorization: `Bearer ${KEYS.regulator}` } });
      statuses.push(r.status);
      if (r.status === 429) retryAfter = r.headers.get('retry-after');
    }
    await limited.close();
    expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
    expect(statuses[4]).toBe(429);
    expect(Number(retryAfter)).toBeGreaterThan(0);
  });

  it('answers 503 at once when Redis is down', async () => {
    const deadUrl = 'redis://127.0.0.1:1';
    const deadConn = redisConnection(deadUrl);
    deadConn.on('error', () => {});
    const deadQueue = new BullJobQueue({ redisUrl: deadUrl });
    const down = await buildApp({ config: config({ redisUrl: deadUrl }), queue: deadQueue, redis: deadConn });
    await down.listen({ host: '127.0.0.1', port: 0 });
    const b = `http://127.0.0.1:${(down.server.address() as { port: number }).port}`;
    const t0 = Date.now();
    const ready = await fetch(`${b}/readyz`);
    const post = await fetch(`${b}/v1/models/${modelId}/proofs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEYS.bank}`, 'content-type': 'application/json' },
      body: JSON.stringify({ input: JSON.parse(await readFile(LOAN_APPLICANT, 'utf8')) }),
    });
    const elapsed = Date.now() - t0;
    await down.close();
    await deadQueue.close();
    deadConn.disconnect();
    expect(ready.status).toBe(503);
    expect(post.status).toBe(503);
    expect(elapsed).toBeLessThan(5000);
  });
});

describe('OpenAPI document', () => {
  it('openapi.yaml and the client types are what the route schemas generate (run `npm run openapi` after changing a route)', async () => {
    const yaml = await openapiYaml();
    expect(await readFile(path.join(REPO, 'openapi.yaml'), 'utf8')).toBe(yaml);
    expect(await readFile(path.join(REPO, 'src', 'api', 'openapi-types.ts'), 'utf8')).toBe(await openapiClientTypes(yaml));
  });
});
