import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
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
import { type Config, loadConfig } from '../../src/service/config.ts';
import { BullJobQueue, redisConnection } from '../../src/queue/index.ts';
import type { ProofBundle } from '../../src/bundle/format.ts';
import { FIELD_ORDER } from '../../src/quant/index.ts';
import { type Stage, STAGES } from '../../src/core/progress.ts';
import { BrowserProvider, Interface } from 'ethers';
import { decodeRevert, deployContracts, startDevChain } from '../../src/chain/index.ts';
import { findRedis } from '../helpers/redis.ts';
import { freshPostgres } from '../helpers/postgres.ts';
import { CLI, LOAN_APPLICANT, LOAN_MODEL, REPO } from '../helpers/paths.ts';

const redis = await findRedis();
const postgres = await freshPostgres();
const workerMetricsPort = 20000 + Math.floor(Math.random() * 20000);

/** The same suite runs on each backend: the records in PostgreSQL with BullMQ workers, and the embedded store. */
const BACKENDS = [
  { name: 'PostgreSQL with BullMQ workers on Redis', bull: true, skip: !redis.url ? redis.why : !postgres.url ? postgres.why : null },
  { name: 'the embedded store (PGlite) with its own worker process', bull: false, skip: null },
];
for (const b of BACKENDS) if (b.skip) console.warn(`skipping the service tests on ${b.name}: ${b.skip}`);

const KEYS = {
  bank: 'bank-prover-key-0123456789',
  regulator: 'regulator-verifier-key-0123',
  other: 'other-bank-prover-key-98765',
  admin: 'admin-key-0123456789abcdef',
};

function config(over: Partial<Config> = {}): Config {
  return {
    ...loadConfig({}),
    reconcileIntervalMs: 500,
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
      { key: KEYS.admin, role: 'admin', tenant: 'ops' },
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

afterAll(async () => {
  await postgres.stop();
  redis.stop();
});

for (const backend of BACKENDS)
  describe.skipIf(backend.skip !== null)(`REST API on ${backend.name}`, () => {
    let app: FastifyInstance;
    let base: string;
    let worker: ChildProcess | null = null;
    let conn: Redis | null = null;
    let cfg: Config;
    let modelId: string;
    let bundle: Record<string, unknown> & { publicSignals: string[] };
    let proofId: string;
    let loanBytes: Buffer;

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
      cfg = backend.bull
        ? config({ redisUrl: redis.url, databaseUrl: postgres.url })
        : config({ redisUrl: null, databaseUrl: null, dbDir: await mkdtemp(path.join(tmpdir(), 'zkinfer-db-')) });
      if (backend.bull) {
        conn = redisConnection(redis.url!);
        conn.on('error', () => {});
      }
      app = await buildApp({ config: cfg });
      await app.listen({ host: '127.0.0.1', port: 0 });
      const addr = app.server.address() as { port: number };
      base = `http://127.0.0.1:${addr.port}`;
      if (backend.bull) {
        worker = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'src', 'queue', 'worker-main.ts')], {
          cwd: REPO,
          env: {
            ...process.env,
            REDIS_URL: redis.url!,
            DATABASE_URL: postgres.url!,
            ZKINFER_QUEUE_PREFIX: cfg.queuePrefix,
            METRICS_PORT: String(workerMetricsPort),
          },
          stdio: ['ignore', 'inherit', 'inherit'],
        });
      }

      loanBytes = await readFile(LOAN_MODEL);
      const form = new FormData();
      form.append('model', new Blob([Buffer.from(loanBytes)]), 'loan-model.onnx');
      const up = await fetch(`${base}/v1/models`, { method: 'POST', headers: { authorization: `Bearer ${KEYS.bank}` }, body: form });
      expect(up.status).toBe(202);
      modelId = ((await up.json()) as { id: string }).id;
      const ready = await poll(
        () => call('GET', `/v1/models/${modelId}`, KEYS.bank),
        (r) => r.body.status === 'ready' || r.body.status === 'failed',
      );
      expect(ready.body.status, JSON.stringify(ready.body)).toBe('ready');
    });

    afterAll(async () => {
      worker?.kill('SIGTERM');
      await app?.close();
      if (conn) {
        const keys = await conn.keys(`${cfg.queuePrefix}:*`);
        if (keys.length) await conn.del(...keys);
        conn.disconnect();
      }
    });

    it('uploads, proves through the worker, and verifies through /v1/verify and the CLI', async () => {
      const model = await call('GET', `/v1/models/${modelId}`, KEYS.regulator);
      expect(model.body).toMatchObject({ id: modelId, status: 'ready', head: 'sigmoid' });
      expect(model.body.constraints).toBeGreaterThan(1000);
      expect(model.body.tenant).toBeUndefined();
      // The compile's stages, in the pipeline's order (a key made earlier is reused: the
      // phase-2 stages appear only when it is made), and no current stage once ready.
      const stages = (model.body.progress as { stage: string; at: string }[]).map((p) => p.stage);
      expect(stages.filter((st) => ['phase2', 'contribution', 'beacon', 'export-key'].includes(st) === false)).toEqual([
        'import',
        'quantize',
        'circom',
        'fidelity',
        'ptau',
        'contracts',
      ]);
      expect(stages.map((st) => STAGES.indexOf(st as Stage))).toEqual([...stages.map((st) => STAGES.indexOf(st as Stage))].sort((a, b) => a - b));
      expect(model.body.stage).toBeUndefined();
      const vkey = await call('GET', `/v1/models/${modelId}/vkey`, KEYS.regulator);
      expect(vkey.body.protocol).toBe('groth16');

      const applicant = JSON.parse(await readFile(LOAN_APPLICANT, 'utf8'));
      const req = await call('POST', `/v1/models/${modelId}/proofs`, KEYS.bank, { input: applicant, nonce: '77' }, { 'idempotency-key': randomUUID() });
      expect(req.status).toBe(202);
      proofId = req.body.id;
      const done = await poll(
        () => call('GET', `/v1/proofs/${proofId}`, KEYS.bank),
        (r) => r.body.status === 'done' || r.body.status === 'failed',
      );
      expect(done.body.status, JSON.stringify(done.body)).toBe('done');
      bundle = done.body.bundle;
      expect(bundle.publicSignals.at(-1)).toBe('77');
      expect(done.body.timings.proveMs).toBeGreaterThan(0);

      const ok = await call('POST', '/v1/verify', KEYS.regulator, { bundle });
      // It names what it verified against: the tenant, the version, the key; phase 1 as the service set it up.
      expect(ok.body).toMatchObject({
        valid: true,
        modelId,
        tenant: 'bank',
        version: 1,
        vkeyHash: bundle.vkeyHash,
        phase1: { kind: 'development', trusted: false },
      });
      expect(ok.body.trust).toMatch(/^SETUP: DEVELOPMENT/);
      expect(JSON.stringify(ok.body)).not.toMatch(/hermez/i);
      // A verifier may pin the key the owner published: any other key is an invalid verdict.
      expect((await call('POST', '/v1/verify', KEYS.regulator, { bundle, expectVkeyHash: bundle.vkeyHash })).body).toMatchObject({ valid: true });
      expect((await call('POST', '/v1/verify', KEYS.regulator, { bundle, expectVkeyHash: 'a'.repeat(64) })).body).toMatchObject({
        valid: false,
        field: 'expectVkeyHash',
        outputs: null,
      });
      expect(
        (
          await call('POST', '/v1/verify', KEYS.regulator, {
            modelId,
            proof: bundle.proof,
            publicSignals: bundle.publicSignals,
            expectVkeyHash: 'a'.repeat(64),
          })
        ).body,
      ).toMatchObject({ valid: false, field: 'expectVkeyHash' });
      expect((await call('POST', '/v1/verify', KEYS.regulator, { bundle, tenant: 'nobody' })).body).toMatchObject({ code: 'NOT_FOUND', field: 'tenant' });
      const parts = await call('POST', '/v1/verify', KEYS.regulator, { modelId, proof: bundle.proof, publicSignals: bundle.publicSignals });
      expect(parts.body).toMatchObject({ valid: true, modelId });
      const wrongSignals = await call('POST', '/v1/verify', KEYS.regulator, {
        modelId,
        proof: bundle.proof,
        publicSignals: [...bundle.publicSignals.slice(0, -1), '78'],
      });
      expect(wrongSignals.body.valid).toBe(false);
      const tampered = structuredClone(bundle);
      tampered.publicSignals[2] = ((BigInt(tampered.publicSignals[2]) + 1n) % FIELD_ORDER).toString();
      const bad = await call('POST', '/v1/verify', KEYS.regulator, { bundle: tampered });
      expect(bad.status).toBe(200);
      expect(bad.body.valid).toBe(false);
      // The trust chain through REST: an edited decoding setting is named; the prover's
      // setup claims do not change what the key is.
      const edited = structuredClone(bundle) as unknown as ProofBundle;
      edited.model.settings.bits = 14;
      expect((await call('POST', '/v1/verify', KEYS.regulator, { bundle: edited })).body).toMatchObject({
        valid: false,
        field: 'model.settings.bits',
        outputs: null,
        nonce: null,
      });
      const claims = structuredClone(bundle) as unknown as ProofBundle;
      claims.setup = { ...claims.setup, insecure: false, ptau: { kind: 'ceremony', name: 'powersOfTau28_hez_final_16', power: 16, sha256: 'f'.repeat(64) } };
      const claimed = await call('POST', '/v1/verify', KEYS.regulator, { bundle: claims });
      expect(claimed.body).toMatchObject({
        valid: true,
        phase1: { kind: 'development', trusted: false },
        nonce: '77',
        inputCommitment: bundle.publicSignals[1],
      });

      const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-api-'));
      await writeFile(path.join(dir, 'bundle.json'), JSON.stringify(bundle));
      const cli = spawnSync(process.execPath, [CLI, 'verify', path.join(dir, 'bundle.json'), '--vkey', path.join(dir, 'vkey.json')], {
        cwd: REPO,
        encoding: 'utf8',
        input: '',
      });
      expect(cli.status, cli.stderr).toBe(2); // the vkey file does not exist yet: unusable input
      await writeFile(path.join(dir, 'vkey.json'), JSON.stringify(vkey.body));
      const cliOk = spawnSync(process.execPath, [CLI, 'verify', path.join(dir, 'bundle.json'), '--vkey', path.join(dir, 'vkey.json')], {
        cwd: REPO,
        encoding: 'utf8',
      });
      expect(cliOk.status, cliOk.stderr).toBe(0);
      expect(cliOk.stdout).toMatch(/^VALID/);

      const receipt = await call('GET', `/v1/proofs/${proofId}/receipt`, KEYS.bank);
      expect(receipt.body.inputCommitment).toBe(bundle.publicSignals[1]);
      expect((await call('GET', `/v1/proofs/${proofId}/receipt`, KEYS.regulator)).status).toBe(403);
      expect(JSON.stringify(done.body)).not.toContain(receipt.body.salt);

      const listed = await call('GET', `/v1/proofs?modelId=${modelId}`, KEYS.bank);
      expect(listed.body.items.map((p: { id: string }) => p.id)).toContain(proofId);
      const metrics = await call('GET', '/metrics', null);
      expect(metrics.body).toMatch(/zkinfer_verifications_total\{result="valid"\} 4/);
      expect(metrics.body).toMatch(/zkinfer_queue_depth/);
      expect(metrics.body).toMatch(/http_request_duration_seconds_count\{method="POST",route="\/v1\/verify",status="200"\} [1-9]/);
      if (backend.bull) {
        const workerMetrics = await (await fetch(`http://127.0.0.1:${workerMetricsPort}/metrics`)).text();
        expect(workerMetrics).toMatch(/zkinfer_job_seconds_count\{queue="prove",stage="prove",outcome="ok"\} [1-9]/);
      } else {
        // The embedded worker process reports its job times to the API's /metrics.
        expect(metrics.body).toMatch(/zkinfer_job_seconds_count\{queue="prove",stage="prove",outcome="ok"\} [1-9]/);
      }
      // The private request went with the proof's end; a worker heartbeats, so the API is ready.
      expect(await app.stores.proofs.hasRequest(proofId)).toBe(false);
      const ready = await call('GET', '/readyz', null);
      expect(ready.status, JSON.stringify(ready.body)).toBe(200);
      expect(ready.body.workers).toMatch(/^ok/);
    });

    it('a scikit-learn pipeline with categorical columns: calibrated by a CSV upload, proved from category strings; an unknown category or a missing number is a 400 naming the column, never the value', async () => {
      const dir = path.join(REPO, 'test', 'fixtures', 'models', 'sklearn');
      const { rows } = JSON.parse(await readFile(path.join(dir, 'credit_categorical.inputs.json'), 'utf8')) as { rows: (string | number)[][] };
      const columns = ['income', 'debt', 'age', 'home_ownership', 'purpose', 'term'];
      const form = new FormData();
      form.append('model', new Blob([await readFile(path.join(dir, 'credit_categorical.onnx'))]), 'credit_categorical.onnx');
      form.append('scale', '12');
      form.append('calibration', new Blob([[columns.join(','), ...rows.map((r) => r.join(','))].join('\n')]), 'calibration.csv');
      const up = await fetch(`${base}/v1/models`, { method: 'POST', headers: { authorization: `Bearer ${KEYS.bank}` }, body: form });
      expect(up.status).toBe(202);
      const id = ((await up.json()) as { id: string }).id;
      const ready = await poll(
        () => call('GET', `/v1/models/${id}`, KEYS.bank),
        (r) => r.body.status === 'ready' || r.body.status === 'failed',
      );
      expect(ready.body.status, JSON.stringify(ready.body)).toBe('ready');
      expect(ready.body.inputs[3]).toEqual({ name: 'home_ownership', size: 3, categories: [['MORTGAGE', 'OWN', 'RENT']], unknownCategory: 'refused' });
      const applicant = Object.fromEntries(columns.map((c, i) => [c, rows[2][i]]));
      for (const [input, field] of [
        [{ ...applicant, home_ownership: 'YACHT-9931' }, 'home_ownership'],
        [{ ...applicant, income: null }, 'income'],
      ] as const) {
        const r = await call('POST', `/v1/models/${id}/proofs`, KEYS.bank, { input });
        expect(r.status).toBe(400);
        expect(r.body).toMatchObject({ code: 'INPUT_VALUE', field });
        expect(JSON.stringify(r.body)).not.toMatch(/YACHT|9931/);
      }
      const req = await call('POST', `/v1/models/${id}/proofs`, KEYS.bank, { input: applicant });
      expect(req.status).toBe(202);
      const done = await poll(
        () => call('GET', `/v1/proofs/${req.body.id}`, KEYS.bank),
        (r) => r.body.status === 'done' || r.body.status === 'failed',
      );
      expect(done.body.status, JSON.stringify(done.body)).toBe('done');
      expect(done.body.bundle.model.inputs[4].categories).toEqual([['car', 'debt_consolidation', 'education', 'home_improvement', 'medical']]);
      expect((await call('POST', '/v1/verify', KEYS.regulator, { bundle: done.body.bundle })).body).toMatchObject({ valid: true, modelId: id });
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
      const replay = await (
        await provider.getSigner(0)
      )
        .sendTransaction({ to: d.registry.address, data: calldata.body.calldata.attest })
        .catch((e: unknown) => e);
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
      const rs = await Promise.all(
        Array.from({ length: 50 }, () => call('POST', `/v1/models/${modelId}/proofs`, KEYS.bank, { input: applicant }, { 'idempotency-key': key })),
      );
      expect(rs.every((r) => r.status === 202)).toBe(true);
      expect(new Set(rs.map((r) => r.body.id)).size).toBe(1);
      const other = await call('POST', `/v1/models/${modelId}/proofs`, KEYS.bank, { input: { ...applicant, age: 41 } }, { 'idempotency-key': key });
      expect(other.status).toBe(409);
      expect(other.body.code).toBe('IDEMPOTENCY_CONFLICT');
      const [{ n }] = await app.db.query<{ n: number }>('SELECT count(*)::int AS n FROM idempotency_keys WHERE key = $1', [key]);
      expect(n).toBe(1);
      // The same payload with its keys in another order is the same request, not a conflict.
      const reordered = Object.fromEntries(Object.entries(applicant).reverse());
      const again = await call('POST', `/v1/models/${modelId}/proofs`, KEYS.bank, { input: reordered }, { 'idempotency-key': key });
      expect(again.status).toBe(202);
      expect(again.body.id).toBe(rs[0].body.id);
      const done = await poll(
        () => call('GET', `/v1/proofs/${again.body.id}`, KEYS.bank),
        (r) => r.body.status === 'done' || r.body.status === 'failed',
      );
      expect(done.body.status).toBe('done');
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
      const pendingId = 'f'.repeat(64);
      await app.stores.models.register({
        tenant: 'bank',
        id: pendingId,
        fileName: 'x.onnx',
        externalFiles: [],
        settings: { scaleBits: 10, bits: 32 },
        publicInput: false,
      });
      await app.stores.models.setStatus('bank', pendingId, 'compiling');
      await app.db.query("UPDATE models SET handed_at = now(), lease_owner = 'test', lease_until = now() + interval '1 hour' WHERE id = $1", [pendingId]);
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
      const limited = await buildApp({
        config: { ...cfg, rateLimit: 3, queuePrefix: `test-${randomUUID()}` },
        db: app.db,
        queue: app.queue,
        redis: conn,
        background: false,
      });
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

    it('keeps model records per tenant: two tenants register one ONNX and neither blocks the other', async () => {
      // The same bytes under another file name: the same id, and both names are stored. The
      // name is the one the service's own records would have if uploads lived beside them.
      const form = () => {
        const f = new FormData();
        f.append('model', new Blob([Buffer.from(loanBytes)]), 'record.json');
        return f;
      };
      const up = await fetch(`${base}/v1/models`, { method: 'POST', headers: { authorization: `Bearer ${KEYS.other}` }, body: form() });
      expect(up.status).toBe(202);
      expect(((await up.json()) as { id: string }).id).toBe(modelId);
      const ready = await poll(
        () => call('GET', `/v1/models/${modelId}`, KEYS.other),
        (r) => r.body.status === 'ready' || r.body.status === 'failed',
      );
      expect(ready.body.status, JSON.stringify(ready.body)).toBe('ready');
      expect(ready.body.fileName).toBe('record.json');
      // The bank's record of the same model is untouched.
      expect((await call('GET', `/v1/models/${modelId}`, KEYS.bank)).body).toMatchObject({ status: 'ready', fileName: 'loan-model.onnx' });
      // Each prover lists its own; the admin sees both; a verifier names the tenant when it is not its own.
      expect((await call('GET', '/v1/models', KEYS.other)).body.items.map((m: { id: string }) => m.id)).toEqual([modelId]);
      const all = await call('GET', '/v1/models?limit=200', KEYS.admin);
      expect(all.body.items.filter((m: { id: string }) => m.id === modelId)).toHaveLength(2);
      expect((await call('GET', `/v1/models/${modelId}`, KEYS.admin)).body).toMatchObject({ code: 'AMBIGUOUS_TENANT', field: 'tenant' });
      expect((await call('GET', `/v1/models/${modelId}?tenant=other`, KEYS.admin)).body.status).toBe('ready');
      expect((await call('GET', `/v1/models/${modelId}?tenant=bank`, KEYS.other)).status).toBe(404);
      // A proof of the other tenant verifies for the regulator, whose tenant is the bank.
      const applicant = JSON.parse(await readFile(LOAN_APPLICANT, 'utf8'));
      const req = await call('POST', `/v1/models/${modelId}/proofs`, KEYS.other, { input: applicant });
      expect(req.status).toBe(202);
      const done = await poll(
        () => call('GET', `/v1/proofs/${req.body.id}`, KEYS.other),
        (r) => r.body.status === 'done' || r.body.status === 'failed',
      );
      expect(done.body.status).toBe('done');
      expect((await call('POST', '/v1/verify', KEYS.regulator, { bundle: done.body.bundle })).body.valid).toBe(true);
      expect((await call('GET', `/v1/proofs/${req.body.id}`, KEYS.bank)).status).toBe(404);
      // A verifier of neither tenant must say whose registration it means, as for GET /v1/models/{id}.
      const parts = { modelId, proof: done.body.bundle.proof, publicSignals: done.body.bundle.publicSignals };
      expect((await call('POST', '/v1/verify', KEYS.admin, parts)).body).toMatchObject({ code: 'AMBIGUOUS_TENANT', field: 'tenant' });
      expect((await call('POST', '/v1/verify', KEYS.admin, { ...parts, tenant: 'other' })).body).toMatchObject({ valid: true, tenant: 'other' });
      expect((await call('POST', '/v1/verify', KEYS.admin, { bundle: done.body.bundle, tenant: 'other' })).body).toMatchObject({
        valid: true,
        tenant: 'other',
      });
    });

    it('refuses an upload with one file name twice, naming it', async () => {
      const f = new FormData();
      f.append('model', new Blob([Buffer.from(loanBytes)]), 'loan-model.onnx');
      f.append('external', new Blob([Buffer.from('x')]), 'loan-model.onnx');
      const r = await fetch(`${base}/v1/models`, { method: 'POST', headers: { authorization: `Bearer ${KEYS.bank}` }, body: f });
      expect(r.status).toBe(400);
      expect(((await r.json()) as { message: string }).message).toContain('"loan-model.onnx" is uploaded twice');
    });

    it('keeps every key version: a new circuit makes version 2 and proofs of version 1 still verify', async () => {
      const before = await call('GET', `/v1/models/${modelId}`, KEYS.bank);
      expect(before.body.versions.map((v: { version: number }) => v.version)).toEqual([1]);
      expect((await call('GET', `/v1/models/${modelId}/vkey?version=1`, KEYS.regulator)).body).toEqual(
        (await call('GET', `/v1/models/${modelId}/vkey`, KEYS.regulator)).body,
      );
      expect((await call('GET', `/v1/models/${modelId}/vkey?version=2`, KEYS.regulator)).body).toMatchObject({ code: 'NOT_FOUND', field: 'version' });
      expect((await call('GET', `/v1/models/${modelId}/vkey?vkeyHash=${bundle.vkeyHash}`, KEYS.regulator)).body).toEqual(bundle.verificationKey);
      expect((await call('GET', `/v1/models/${modelId}/vkey?vkeyHash=${'0'.repeat(64)}`, KEYS.regulator)).body).toMatchObject({
        code: 'NOT_FOUND',
        field: 'vkeyHash',
      });
      // What an older zkinfer would have left: version 1 made from another circuit.
      await app.db.query("UPDATE model_versions SET circuit_hash = 'older-circuit' WHERE tenant = 'bank' AND model_id = $1 AND version = 1", [modelId]);
      const applicant = JSON.parse(await readFile(LOAN_APPLICANT, 'utf8'));
      const req = await call('POST', `/v1/models/${modelId}/proofs`, KEYS.bank, { input: applicant });
      const done = await poll(
        () => call('GET', `/v1/proofs/${req.body.id}`, KEYS.bank),
        (r) => r.body.status === 'done' || r.body.status === 'failed',
      );
      expect(done.body).toMatchObject({ status: 'done', modelVersion: 2 });
      const after = await call('GET', `/v1/models/${modelId}`, KEYS.bank);
      expect(after.body.versions.map((v: { version: number; circuitHash: string }) => [v.version, v.circuitHash])).toEqual([
        [1, 'older-circuit'],
        [2, done.body.bundle.setup.circuitHash],
      ]);
      expect(after.body.version).toBe(2);
      // The first proof of this suite (version 1) still verifies, as a bundle and as parts of version 1.
      expect((await call('POST', '/v1/verify', KEYS.regulator, { bundle })).body).toMatchObject({ valid: true });
      expect(
        (await call('POST', '/v1/verify', KEYS.regulator, { modelId, proof: bundle.proof, publicSignals: bundle.publicSignals, version: 1 })).body,
      ).toMatchObject({ valid: true, version: 1 });
      const unknownKey = await call('POST', '/v1/verify', KEYS.regulator, { bundle: { ...bundle, vkeyHash: 'f'.repeat(64) } });
      expect([404, 409, 400]).toContain(unknownKey.status);
      if (unknownKey.status !== 400) expect(unknownKey.body.field).toBe('bundle.vkeyHash');
    });

    it("serves a version's r1cs, zkey, circuit source and ptau, hash-checked", async () => {
      const model = (await call('GET', `/v1/models/${modelId}`, KEYS.regulator)).body;
      const setup = model.setup;
      for (const [kind, sha] of [
        ['r1cs', setup.r1csSha256],
        ['zkey', setup.zkeySha256],
        ['ptau', setup.ptau.sha256],
        ['circuit', null],
      ] as const) {
        const res = await fetch(`${base}/v1/models/${modelId}/artifacts/${kind}`, { headers: { authorization: `Bearer ${KEYS.regulator}` } });
        expect(res.status, kind).toBe(200);
        const bytes = Buffer.from(await res.arrayBuffer());
        const actual = createHash('sha256').update(bytes).digest('hex');
        expect(res.headers.get('x-zkinfer-sha256')).toBe(actual);
        if (sha) expect(actual, kind).toBe(sha);
        if (kind === 'circuit') expect(bytes.toString('utf8')).toContain('component main');
      }
      expect((await call('GET', `/v1/models/${modelId}/artifacts/wasm`, KEYS.regulator)).status).toBe(400);
      expect((await call('GET', `/v1/models/${modelId}/artifacts/r1cs?version=9`, KEYS.regulator)).body).toMatchObject({ code: 'NOT_FOUND', field: 'version' });
    });

    it('pages through proofs with limit and an opaque cursor', async () => {
      const first = await call('GET', `/v1/proofs?modelId=${modelId}&limit=2`, KEYS.bank);
      expect(first.body.items).toHaveLength(2);
      expect(first.body.nextCursor).toEqual(expect.any(String));
      const second = await call('GET', `/v1/proofs?modelId=${modelId}&limit=2&cursor=${encodeURIComponent(first.body.nextCursor)}`, KEYS.bank);
      expect(second.body.items.length).toBeGreaterThan(0);
      const ids = [...first.body.items, ...second.body.items].map((p: { id: string }) => p.id);
      expect(new Set(ids).size).toBe(ids.length);
      const times = [...first.body.items, ...second.body.items].map((p: { createdAt: string }) => p.createdAt);
      expect([...times].sort().reverse()).toEqual(times);
      expect((await call('GET', '/v1/proofs?cursor=garbage', KEYS.bank)).body).toMatchObject({ code: 'VALIDATION', field: 'querystring.cursor' });
      expect((await call('GET', '/v1/proofs?limit=500', KEYS.bank)).status).toBe(400);
    });

    it.skipIf(!backend.bull)('answers 503 at once when Redis is down', async () => {
      const deadUrl = 'redis://127.0.0.1:1';
      const deadConn = redisConnection(deadUrl);
      deadConn.on('error', () => {});
      const deadQueue = new BullJobQueue({ redisUrl: deadUrl }, app.stores);
      const down = await buildApp({ config: { ...cfg, redisUrl: deadUrl }, db: app.db, queue: deadQueue, redis: deadConn, background: false });
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
