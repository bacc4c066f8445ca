// Production setup on the service (issue 20, item 2): the operator's powers of tau
// (ZKINFER_PTAU, pinned by ZKINFER_PTAU_SHA256 or a known ceremony file) is checked at
// start and used for every setup and ceremony; ZKINFER_MODE=production refuses to start on
// a development file unless ZKINFER_ALLOW_DEV_SETUP=true; /readyz and every model record
// name the phase 1. Real files throughout: a locally made ptau with its own secrets stands
// in for the operator's file, the repo's ptau/dev-13.ptau for the development one.
import { spawn } from 'node:child_process';
import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import * as snarkjs from 'snarkjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.ts';
import { contribute } from '../../src/ceremony/index.ts';
import { type Config, loadConfig } from '../../src/service/config.ts';
import { generateDevPtau } from '../../src/prover/dev-ptau.ts';
import { BUNDLED_DEV_PTAU, operatorPtau } from '../../src/prover/ptau.ts';
import { hashFile } from '../../src/core/hash.ts';
import { checkServicePhase1 } from '../../src/service/phase1.ts';
import { LOAN_APPLICANT, LOAN_MODEL, REPO } from '../helpers/paths.ts';
import { freshPostgres } from '../helpers/postgres.ts';
import { findRedis } from '../helpers/redis.ts';

const KEYS = {
  bank: 'bank-prover-key-0123456789',
  regulator: 'regulator-verifier-key-0123',
  trust: 'trust-bank-prover-key-0123',
  alice: 'alice-contributor-key-0123',
};
/** Not the development secrets: a file nobody can forge with (the test forgets them). */
const OPERATOR_SECRETS = { tau: '4242424242424242424242424242', alpha: '1357913579135791357913579', beta: '2468024680246802468024680' };
const DEV_13 = path.join(REPO, 'ptau', 'dev-13.ptau');

let dir: string;
/** The operator's file: 2^13, its own secrets, pinned by sha256. */
let prodPtau: string;
let prodSha: string;
/** Too small for the loan model. */
let tinyPtau: string;
let tinySha: string;
let applicant: Record<string, number>;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-prod-ptau-'));
  prodPtau = path.join(dir, 'bank-ceremony-13.ptau');
  tinyPtau = path.join(dir, 'bank-ceremony-8.ptau');
  await generateDevPtau(13, prodPtau, () => {}, OPERATOR_SECRETS);
  await generateDevPtau(8, tinyPtau, () => {}, OPERATOR_SECRETS);
  prodSha = await hashFile(prodPtau, 'sha256');
  tinySha = await hashFile(tinyPtau, 'sha256');
  applicant = JSON.parse(await readFile(LOAN_APPLICANT, 'utf8'));
}, 300_000);

async function poll<T>(fn: () => Promise<T>, done: (v: T) => boolean, ms = 300_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (done(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A service started from environment settings, as `npm start` reads them (embedded store and its own worker, unless `over` names PostgreSQL and Redis). */
async function startService(env: Record<string, string>, over: Partial<Config> = {}): Promise<{ app: FastifyInstance; base: string; config: Config }> {
  const config: Config = {
    ...loadConfig(env),
    host: '127.0.0.1',
    port: 0,
    redisUrl: null,
    databaseUrl: null,
    ...over,
    dbDir: await mkdtemp(path.join(dir, 'db-')),
    reconcileIntervalMs: 500,
    rateLimit: 10_000,
    apiKeys: [
      { key: KEYS.bank, role: 'prover', tenant: 'bank' },
      { key: KEYS.regulator, role: 'verifier', tenant: 'bank' },
      { key: KEYS.trust, role: 'prover', tenant: 'trust' },
      { key: KEYS.alice, role: 'contributor', tenant: 'trust' },
    ],
    ...over,
  };
  const app = await buildApp({ config });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, base: `http://127.0.0.1:${(app.server.address() as { port: number }).port}`, config };
}

function caller(base: string) {
  return async (method: string, url: string, key: string | null, body?: unknown, headers: Record<string, string> = {}) => {
    const binary = body instanceof Uint8Array;
    const res = await fetch(base + url, {
      method,
      headers: {
        ...(key ? { authorization: `Bearer ${key}` } : {}),
        ...(body !== undefined ? { 'content-type': binary ? 'application/octet-stream' : 'application/json' } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : binary ? (body as unknown as BodyInit) : JSON.stringify(body),
    });
    const bytes = Buffer.from(await res.arrayBuffer());
    let json: any = null;
    try {
      json = JSON.parse(bytes.toString('utf8'));
    } catch {
      json = null;
    }
    return { status: res.status, body: json, bytes, headers: res.headers };
  };
}

async function uploadLoan(base: string, fields: Record<string, string> = {}, key = KEYS.bank): Promise<string> {
  const form = new FormData();
  form.append('model', new Blob([await readFile(LOAN_MODEL)]), 'loan-model.onnx');
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  const up = await fetch(`${base}/v1/models`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form });
  expect(up.status).toBe(202);
  return ((await up.json()) as { id: string }).id;
}

/** This process's environment without any zkinfer, Redis or PostgreSQL setting. */
const cleanEnv = () => Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ZKINFER_') && k !== 'REDIS_URL' && k !== 'DATABASE_URL'));

/** Runs `npm start` (or `npm run worker`) with these settings; a refusal exits before it listens. */
function runEntry(entry: 'server' | 'worker', env: Record<string, string>): Promise<{ code: number | null; stderr: string; started: boolean }> {
  const file = entry === 'server' ? path.join(REPO, 'src', 'api', 'server.ts') : path.join(REPO, 'src', 'queue', 'worker-main.ts');
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: REPO,
      env: { ...cleanEnv(), PORT: '0', ZKINFER_DB_DIR: 'memory://', ZKINFER_ARTIFACTS: path.join(dir, 'artifacts'), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let out = '';
    let started = false;
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => {
      out += d;
      // The server logs "Server listening" once it listens: it started.
      if (/listening/i.test(out) && !started) {
        started = true;
        child.kill('SIGTERM');
      }
    });
    const timer = setTimeout(() => {
      started = true;
      child.kill('SIGKILL');
    }, 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, started });
    });
  });
}

describe('the phase 1 a ptau file is, by its bytes', () => {
  it('a development ptau pinned by its hash is development, never operator-pinned (also under another name)', async () => {
    expect(await operatorPtau(DEV_13, 0, BUNDLED_DEV_PTAU.sha256)).toMatchObject({ kind: 'development', insecure: true, name: 'zkinfer-dev-13' });
    const renamed = path.join(dir, 'our-ceremony.ptau');
    await copyFile(DEV_13, renamed);
    expect(await operatorPtau(renamed, 0, BUNDLED_DEV_PTAU.sha256)).toMatchObject({ kind: 'development', insecure: true });
    // A development file of another size (same published secrets), pinned: development too.
    const dev9 = path.join(dir, 'dev-9.ptau');
    await generateDevPtau(9, dev9);
    expect(await operatorPtau(dev9, 0, await hashFile(dev9, 'sha256'))).toMatchObject({ kind: 'development', insecure: true, power: 9, name: 'zkinfer-dev-9' });
    // The operator's own file: operator-pinned only with its pin, refused without or with another.
    expect(await operatorPtau(prodPtau, 10, prodSha)).toMatchObject({
      kind: 'operator-pinned',
      insecure: false,
      power: 13,
      sha256: prodSha,
      name: 'bank-ceremony-13.ptau',
    });
    await expect(operatorPtau(prodPtau, 10)).rejects.toMatchObject({ code: 'SETTINGS', message: expect.stringContaining(prodSha) });
    await expect(operatorPtau(prodPtau, 10, tinySha)).rejects.toThrow(/does not match the pinned/);
    await expect(operatorPtau(tinyPtau, 11, tinySha, 'ZKINFER_PTAU')).rejects.toMatchObject({
      code: 'MODEL_TOO_LARGE',
      field: 'ZKINFER_PTAU',
      message: expect.stringMatching(/needs powers of tau 2\^11; the ptau file bank-ceremony-8\.ptau \(ZKINFER_PTAU\) has 2\^8/),
    });
  });

  it('settings: production without ZKINFER_PTAU is refused at once with the other problems; bad values name their setting', () => {
    expect(loadConfig({})).toMatchObject({ mode: 'development', ptau: null, ptauSha256: null, allowDevSetup: false });
    expect(() => loadConfig({ ZKINFER_MODE: 'production' })).toThrow(
      /ZKINFER_MODE=production .*ZKINFER_PTAU is not set: set ZKINFER_PTAU .*ZKINFER_PTAU_SHA256.*ZKINFER_ALLOW_DEV_SETUP=true/,
    );
    expect(loadConfig({ ZKINFER_MODE: 'production', ZKINFER_ALLOW_DEV_SETUP: 'true' })).toMatchObject({ mode: 'production', allowDevSetup: true, ptau: null });
    let message = '';
    try {
      loadConfig({ ZKINFER_MODE: 'prod', ZKINFER_PTAU_SHA256: 'xyz', ZKINFER_ALLOW_DEV_SETUP: 'yes', ZKINFER_PTAU: path.join(dir, 'missing.ptau'), PORT: 'x' });
    } catch (e) {
      message = (e as Error).message;
    }
    for (const s of [
      'ZKINFER_MODE must be production or development',
      'ZKINFER_PTAU_SHA256 must be a sha256',
      'ZKINFER_ALLOW_DEV_SETUP must be true or false',
      'ZKINFER_PTAU names a file that does not exist',
      'PORT must be',
    ])
      expect(message).toContain(s);
    expect(() => loadConfig({ ZKINFER_PTAU_SHA256: prodSha })).toThrow(/ZKINFER_PTAU_SHA256 pins a file, but ZKINFER_PTAU is not set/);
    expect(loadConfig({ ZKINFER_PTAU: prodPtau, ZKINFER_PTAU_SHA256: `0x${prodSha.toUpperCase()}` })).toMatchObject({ ptau: prodPtau, ptauSha256: prodSha });
  });

  it('the start check: production refuses a development file, pinned or not, unless the development setting is on', async () => {
    const prod = { mode: 'production' as const, allowDevSetup: false, maxPtauPower: 16 };
    for (const pin of [null, BUNDLED_DEV_PTAU.sha256]) {
      await expect(checkServicePhase1({ ...prod, ptau: DEV_13, ptauSha256: pin })).rejects.toMatchObject({
        code: 'SETTINGS',
        field: 'ZKINFER_PTAU',
        message: expect.stringMatching(
          /ZKINFER_MODE=production refuses ZKINFER_PTAU=dev-13\.ptau: it is zkinfer-dev-13, a development powers of tau.*ZKINFER_ALLOW_DEV_SETUP=true/,
        ),
      });
    }
    await expect(checkServicePhase1({ ...prod, ptau: null, ptauSha256: null })).rejects.toThrow(/ZKINFER_PTAU is not set/);
    await expect(checkServicePhase1({ ...prod, ptau: prodPtau, ptauSha256: null })).rejects.toThrow(
      /ZKINFER_PTAU: bank-ceremony-13\.ptau is not a known ceremony file; pin its sha256/,
    );
    await expect(checkServicePhase1({ ...prod, ptau: prodPtau, ptauSha256: tinySha })).rejects.toThrow(
      /ZKINFER_PTAU \(ZKINFER_PTAU_SHA256\): ptau sha256 .* does not match the pinned/,
    );
    const notPtau = path.join(dir, 'notes.ptau');
    await writeFile(notPtau, 'not a ptau at all, just text');
    await expect(checkServicePhase1({ ...prod, ptau: notPtau, ptauSha256: null })).rejects.toThrow(/ZKINFER_PTAU: .*not a powers-of-tau file/);
    expect(await checkServicePhase1({ ...prod, allowDevSetup: true, ptau: DEV_13, ptauSha256: BUNDLED_DEV_PTAU.sha256 })).toMatchObject({
      kind: 'development',
      insecure: true,
      name: 'zkinfer-dev-13',
    });
    expect(await checkServicePhase1({ ...prod, ptau: prodPtau, ptauSha256: prodSha })).toMatchObject({
      kind: 'operator-pinned',
      insecure: false,
      sha256: prodSha,
      power: 13,
      source: 'ZKINFER_PTAU',
      checkedBy: 'service',
    });
  });
});

describe('npm start and npm run worker refuse a development phase 1 in production mode', () => {
  it('npm start without ZKINFER_PTAU: exit 2 naming what to set', async () => {
    const r = await runEntry('server', { ZKINFER_MODE: 'production' });
    expect(r.started, r.stderr).toBe(false);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /zkinfer not starting: configuration: ZKINFER_MODE=production refuses .*ZKINFER_PTAU is not set: set ZKINFER_PTAU to a public ceremony file/,
    );
  });

  it('npm start on ptau/dev-13.ptau, not pinned: exit 2', async () => {
    const r = await runEntry('server', { ZKINFER_MODE: 'production', ZKINFER_PTAU: 'ptau/dev-13.ptau' });
    expect(r.started, r.stderr).toBe(false);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/refuses ZKINFER_PTAU=dev-13\.ptau: it is zkinfer-dev-13, a development powers of tau/);
  });

  it('npm run worker on ptau/dev-13.ptau pinned by its hash: exit 2 before it connects to anything', async () => {
    const r = await runEntry('worker', {
      ZKINFER_MODE: 'production',
      ZKINFER_PTAU: 'ptau/dev-13.ptau',
      ZKINFER_PTAU_SHA256: BUNDLED_DEV_PTAU.sha256,
      // Nothing listens there: the refusal comes first.
      REDIS_URL: 'redis://127.0.0.1:1',
      DATABASE_URL: 'postgres://zkinfer@127.0.0.1:1/none',
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /zkinfer worker not starting: configuration: ZKINFER_MODE=production refuses ZKINFER_PTAU=dev-13\.ptau.*pinning its hash does not change that/,
    );
    const none = await runEntry('worker', {
      ZKINFER_MODE: 'production',
      REDIS_URL: 'redis://127.0.0.1:1',
      DATABASE_URL: 'postgres://zkinfer@127.0.0.1:1/none',
    });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/zkinfer worker not starting: configuration: ZKINFER_MODE=production .*ZKINFER_PTAU is not set/);
  });

  it('buildApp refuses too (a config made in code)', async () => {
    const config: Config = { ...loadConfig({}), mode: 'production', ptau: DEV_13, ptauSha256: BUNDLED_DEV_PTAU.sha256, dbDir: 'memory://' };
    await expect(buildApp({ config, background: false })).rejects.toMatchObject({ code: 'SETTINGS', field: 'ZKINFER_PTAU' });
  });
});

describe('a production service on the operator\u2019s pinned ptau', () => {
  let app: FastifyInstance;
  let base: string;
  let call: ReturnType<typeof caller>;
  let modelId: string;

  beforeAll(async () => {
    ({ app, base } = await startService({ ZKINFER_MODE: 'production', ZKINFER_PTAU: prodPtau, ZKINFER_PTAU_SHA256: prodSha }));
    call = caller(base);
    modelId = await uploadLoan(base);
    const ready = await poll(
      () => call('GET', `/v1/models/${modelId}`, KEYS.bank),
      (r) => r.body.status === 'ready' || r.body.status === 'failed',
    );
    expect(ready.body.status, JSON.stringify(ready.body)).toBe('ready');
  }, 600_000);

  afterAll(async () => {
    await app?.close();
  });

  it('/readyz names the configured phase 1: operator-pinned, not insecure, checked by the service', async () => {
    const r = await poll(
      () => call('GET', '/readyz', null),
      (x) => x.status === 200,
      60_000,
    );
    expect(r.status).toBe(200);
    expect(r.body.phase1).toMatchObject({
      kind: 'operator-pinned',
      name: 'bank-ceremony-13.ptau',
      power: 13,
      sha256: prodSha,
      insecure: false,
      source: 'ZKINFER_PTAU',
      mode: 'production',
      checkedBy: 'service',
    });
  });

  it('sets the loan model up on it: the model record and the setup provenance name it, and the ptau is served for audits', async () => {
    const model = await call('GET', `/v1/models/${modelId}`, KEYS.regulator);
    expect(model.body.phase1).toEqual({
      kind: 'operator-pinned',
      name: 'bank-ceremony-13.ptau',
      power: 13,
      sha256: prodSha,
      insecure: false,
      checkedBy: 'service',
      from: 'key version',
    });
    expect(model.body.setup).toMatchObject({ insecure: false, ptau: { kind: 'operator-pinned', sha256: prodSha, power: 13 } });
    const list = await call('GET', '/v1/models', KEYS.bank);
    expect(list.body.items.find((m: { id: string }) => m.id === modelId).phase1).toMatchObject({ kind: 'operator-pinned', sha256: prodSha, insecure: false });
    // The key really is on the operator's file: its zkey verifies against the r1cs and this ptau.
    const ptau = await call('GET', `/v1/models/${modelId}/artifacts/ptau`, KEYS.regulator);
    expect(ptau.status).toBe(200);
    expect(createHash('sha256').update(ptau.bytes).digest('hex')).toBe(prodSha);
    const zkey = await call('GET', `/v1/models/${modelId}/artifacts/zkey`, KEYS.regulator);
    const r1cs = await call('GET', `/v1/models/${modelId}/artifacts/r1cs`, KEYS.regulator);
    await writeFile(path.join(dir, 'served.zkey'), zkey.bytes);
    await writeFile(path.join(dir, 'served.r1cs'), r1cs.bytes);
    expect(await snarkjs.zKey.verifyFromR1cs(path.join(dir, 'served.r1cs'), prodPtau, path.join(dir, 'served.zkey'))).toBe(true);
    expect(await snarkjs.zKey.verifyFromR1cs(path.join(dir, 'served.r1cs'), DEV_13, path.join(dir, 'served.zkey'))).toBe(false);
  });

  it('proves; the bundle names the operator-pinned phase 1 and the proof verifies (service and plain snarkjs)', async () => {
    const req = await call('POST', `/v1/models/${modelId}/proofs`, KEYS.bank, { input: applicant });
    expect(req.status).toBe(202);
    const done = await poll(
      () => call('GET', `/v1/proofs/${req.body.id}`, KEYS.bank),
      (r) => r.body.status === 'done' || r.body.status === 'failed',
    );
    expect(done.body.status, JSON.stringify(done.body)).toBe('done');
    const bundle = done.body.bundle;
    expect(bundle.setup).toMatchObject({ insecure: false, ptau: { kind: 'operator-pinned', sha256: prodSha } });
    const verified = await call('POST', '/v1/verify', KEYS.regulator, { bundle });
    expect(verified.body, JSON.stringify(verified.body)).toMatchObject({ valid: true, modelId });
    const vkey = await call('GET', `/v1/models/${modelId}/vkey`, KEYS.regulator);
    expect(await snarkjs.groth16.verify(vkey.body, bundle.publicSignals, bundle.proof)).toBe(true);
  });

  it('a ceremony model (another tenant) starts on the same file; contributions and finalize are checked against it; its proof verifies', async () => {
    const id = await uploadLoan(base, { setup: 'ceremony' }, KEYS.trust);
    const waiting = await poll(
      () => call('GET', `/v1/models/${id}`, KEYS.trust),
      (r) => ['ceremony', 'ready', 'failed'].includes(r.body.status),
    );
    expect(waiting.body.status, JSON.stringify(waiting.body)).toBe('ceremony');
    expect(waiting.body.phase1).toMatchObject({ kind: 'operator-pinned', sha256: prodSha, insecure: false, from: 'ceremony' });
    expect(waiting.body.ceremony.ptau).toMatchObject({ kind: 'operator-pinned', sha256: prodSha });
    const initial = await call('GET', `/v1/models/${id}/ceremony/zkey`, KEYS.alice);
    const initialSha = createHash('sha256').update(initial.bytes).digest('hex');
    await writeFile(path.join(dir, 'c0.zkey'), initial.bytes);
    await contribute(path.join(dir, 'c0.zkey'), path.join(dir, 'c1.zkey'), 'alice');
    const up = await call('POST', `/v1/models/${id}/ceremony/contributions`, KEYS.alice, new Uint8Array(await readFile(path.join(dir, 'c1.zkey'))), {
      'x-zkinfer-base-sha256': initialSha,
    });
    expect(up.status, JSON.stringify(up.body)).toBe(200);
    const fin = await call('POST', `/v1/models/${id}/ceremony/finalize`, KEYS.trust, { beacon: 'cd'.repeat(32), iterationsExp: 10 });
    expect(fin.status, JSON.stringify(fin.body)).toBe(200);
    const model = await call('GET', `/v1/models/${id}`, KEYS.trust);
    expect(model.body).toMatchObject({ status: 'ready', phase1: { kind: 'operator-pinned', sha256: prodSha, insecure: false, from: 'key version' } });
    const req = await call('POST', `/v1/models/${id}/proofs`, KEYS.trust, { input: applicant });
    const done = await poll(
      () => call('GET', `/v1/proofs/${req.body.id}`, KEYS.trust),
      (r) => r.body.status === 'done' || r.body.status === 'failed',
    );
    expect(done.body.status, JSON.stringify(done.body)).toBe('done');
    expect(done.body.bundle.setup).toMatchObject({ insecure: false, ptau: { kind: 'operator-pinned', sha256: prodSha } });
    expect((await call('POST', '/v1/verify', KEYS.regulator, { bundle: done.body.bundle })).body).toMatchObject({ valid: true });
  });
});

describe('other phase 1 settings on a running service', () => {
  it('a circuit needing more powers than ZKINFER_PTAU fails its model naming the file; no development fallback', async () => {
    const { app, base } = await startService({ ZKINFER_MODE: 'production', ZKINFER_PTAU: tinyPtau, ZKINFER_PTAU_SHA256: tinySha });
    try {
      const call = caller(base);
      expect((await call('GET', '/readyz', null)).body.phase1).toMatchObject({ kind: 'operator-pinned', power: 8, sha256: tinySha });
      const id = await uploadLoan(base);
      const failed = await poll(
        () => call('GET', `/v1/models/${id}`, KEYS.bank),
        (r) => r.body.status === 'ready' || r.body.status === 'failed',
      );
      expect(failed.body.status).toBe('failed');
      expect(failed.body.reason).toMatch(
        /^MODEL_TOO_LARGE: this circuit needs powers of tau 2\^\d+; the ptau file bank-ceremony-8\.ptau \(ZKINFER_PTAU\) has 2\^8/,
      );
      expect(failed.body.versions).toEqual([]);
    } finally {
      await app.close();
    }
  }, 600_000);

  it('production with ZKINFER_ALLOW_DEV_SETUP=true starts on ptau/dev-13.ptau pinned, and records development, insecure', async () => {
    const { app, base } = await startService({
      ZKINFER_MODE: 'production',
      ZKINFER_ALLOW_DEV_SETUP: 'true',
      ZKINFER_PTAU: DEV_13,
      ZKINFER_PTAU_SHA256: BUNDLED_DEV_PTAU.sha256,
    });
    try {
      const call = caller(base);
      expect((await call('GET', '/readyz', null)).body.phase1).toMatchObject({
        kind: 'development',
        name: 'zkinfer-dev-13',
        insecure: true,
        sha256: BUNDLED_DEV_PTAU.sha256,
        mode: 'production',
      });
      const id = await uploadLoan(base);
      const ready = await poll(
        () => call('GET', `/v1/models/${id}`, KEYS.bank),
        (r) => r.body.status === 'ready' || r.body.status === 'failed',
      );
      expect(ready.body.status, JSON.stringify(ready.body)).toBe('ready');
      expect(ready.body.phase1).toMatchObject({ kind: 'development', name: 'zkinfer-dev-13', insecure: true, sha256: BUNDLED_DEV_PTAU.sha256 });
      expect(ready.body.setup).toMatchObject({ insecure: true, ptau: { kind: 'development' } });
    } finally {
      await app.close();
    }
  }, 600_000);

  it('development mode (the default) without ZKINFER_PTAU: readyz says development files', async () => {
    const { app, base } = await startService({});
    try {
      const r = await caller(base)('GET', '/readyz', null);
      expect(r.body.phase1).toMatchObject({
        kind: 'development',
        insecure: true,
        sha256: null,
        source: 'development files',
        mode: 'development',
        checkedBy: 'service',
      });
    } finally {
      await app.close();
    }
  });
});

describe('BullMQ: `npm run worker` reads the same phase 1 settings', () => {
  it('a worker started with the operator\u2019s pinned ptau sets the model up on it', async (t) => {
    const redis = await findRedis();
    const postgres = await freshPostgres();
    if (!redis.url || !postgres.url) {
      redis.stop();
      await postgres.stop();
      t.skip(`no ${!redis.url ? `Redis (${redis.why})` : `PostgreSQL (${postgres.why})`}`);
      return;
    }
    const env = { ZKINFER_MODE: 'production', ZKINFER_PTAU: prodPtau, ZKINFER_PTAU_SHA256: prodSha };
    const queuePrefix = `test-prod-ptau-${Date.now()}`;
    const { app, base } = await startService(env, { redisUrl: redis.url, databaseUrl: postgres.url, dbDir: null, queuePrefix });
    let stdout = '';
    const worker = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'src', 'queue', 'worker-main.ts')], {
      cwd: REPO,
      env: { ...cleanEnv(), ...env, REDIS_URL: redis.url, DATABASE_URL: postgres.url, ZKINFER_QUEUE_PREFIX: queuePrefix },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    // The worker logs JSON lines on stdout, as the API does.
    worker.stdout!.on('data', (d) => (stdout += d));
    try {
      const call = caller(base);
      const id = await uploadLoan(base);
      const ready = await poll(
        () => call('GET', `/v1/models/${id}`, KEYS.bank),
        (r) => r.body.status === 'ready' || r.body.status === 'failed',
      );
      expect(ready.body.status, JSON.stringify(ready.body)).toBe('ready');
      expect(ready.body.phase1).toEqual({
        kind: 'operator-pinned',
        name: 'bank-ceremony-13.ptau',
        power: 13,
        sha256: prodSha,
        insecure: false,
        checkedBy: 'service',
        from: 'key version',
      });
      expect(stdout.split('\n').map((l) => (l ? (JSON.parse(l) as { msg: string }).msg : ''))).toContain(
        `zkinfer worker phase 1: bank-ceremony-13.ptau (operator-pinned, 2^13, sha256 ${prodSha})`,
      );
      expect((await call('GET', '/readyz', null)).body.phase1).toMatchObject({ kind: 'operator-pinned', sha256: prodSha, source: 'ZKINFER_PTAU' });
    } finally {
      worker.kill('SIGTERM');
      await new Promise((r) => worker.once('exit', r));
      await app.close();
      redis.stop();
      await postgres.stop();
    }
  }, 600_000);
});
