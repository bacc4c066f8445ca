// Applicant privacy (issue #12): a batch of proofs runs through the real service (embedded
// store, its own worker process); then the app's log, every row of every table and every
// file under the artifact folder are searched for each applicant's raw values and salt,
// and for the calibration rows of the upload: none may be there once the proofs ended and
// the receipts were erased or expired. Receipts: 0600, fetched, erased, expired (410).
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.ts';
import { canonicalJson } from '../../src/core/canonical-json.ts';
import { payloadFingerprint } from '../../src/api/idempotency.ts';
import { type Config, loadConfig } from '../../src/service/config.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import { serviceSecret } from '../../src/store/service-secret.ts';
import { LOAN_MODEL, REPO } from '../helpers/paths.ts';

const KEY = 'privacy-prover-key-0123456789';
const OTHER = 'privacy-other-prover-key-012345';
const RECEIPT_TTL_MS = 20_000;

/** Distinctive raw values: each applicant's features differ in the last digits. */
const applicants = [0, 1, 2, 3].map((i) => ({
  input: {
    age: 41.28713 + i,
    income: 38.41739 + i,
    loan_amount: 44.70913 + i,
    debt_to_income: 26.23457 + i,
    credit_history_years: 2.31977 + i / 10,
    late_payments: 1,
    employment_years: 11.93311 + i,
    credit_score: 673.41277 + i,
  },
  salt: `${918273645546372819n + BigInt(i) * 1_000_003n}`,
}));
// Inside the other rows' ranges: a feature's observed range is published (the descriptor's
// inputQuant lo/hi), so an extreme calibration value would be public by design.
const CALIBRATION_ROW = {
  age: 43.98761,
  income: 39.24681,
  loan_amount: 33.13579,
  debt_to_income: 23.86421,
  credit_history_years: 2.37123,
  late_payments: 0,
  employment_years: 12.43219,
  credit_score: 602.13577,
};
const BAD_VALUE = 987654321.123;

let app: FastifyInstance;
let base: string;
let artifacts: string;
let dbDir: string;
const logs: string[] = [];
const previousArtifacts = process.env.ZKINFER_ARTIFACTS;

const call = async (method: string, url: string, body?: unknown, key = KEY) => {
  const res = await fetch(base + url, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, text, body: text ? JSON.parse(text) : null };
};

async function poll<T>(fn: () => Promise<T>, done: (v: T) => boolean, ms = 300_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (done(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function* files(dir: string): AsyncGenerator<string> {
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* files(p);
    else if (e.isFile()) yield p;
  }
}

beforeAll(async () => {
  // A fresh artifact folder of its own, so every file in it comes from this run.
  artifacts = await mkdtemp(path.join(tmpdir(), 'zkinfer-privacy-artifacts-'));
  dbDir = await mkdtemp(path.join(tmpdir(), 'zkinfer-privacy-db-'));
  process.env.ZKINFER_ARTIFACTS = artifacts;
  const config: Config = {
    ...loadConfig({}),
    host: '127.0.0.1',
    port: 0,
    dbDir,
    redisUrl: null,
    databaseUrl: null,
    reconcileIntervalMs: 500,
    queuePrefix: `test-${randomUUID()}`,
    receiptTtlMs: RECEIPT_TTL_MS,
    apiKeys: [
      { key: KEY, role: 'prover', tenant: 'bank' },
      { key: OTHER, role: 'prover', tenant: 'other' },
    ],
  };
  const stream = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  app = await buildApp({ config, logger: { level: 'trace', stream } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
});

afterAll(async () => {
  await app?.close();
  if (previousArtifacts === undefined) delete process.env.ZKINFER_ARTIFACTS;
  else process.env.ZKINFER_ARTIFACTS = previousArtifacts;
});

describe('applicant data', () => {
  const proofIds: string[] = [];
  let modelId: string;

  it('registers the loan model with labels, an input range and the example test set as calibration (its label column named; the rows are dropped after the compile)', async () => {
    // The example's own test set, as is: its `approved` column is named as the label column and dropped.
    const csv = (await readFile(path.join(REPO, 'examples', 'loan', 'test-set.csv'), 'utf8')).trim().split('\n');
    const header = csv[0].split(',');
    expect(header.at(-1)).toBe('approved');
    const rows = csv.slice(1);
    rows.push(header.map((h) => (h === 'approved' ? '1' : String(CALIBRATION_ROW[h as keyof typeof CALIBRATION_ROW]))).join(','));
    const upload = async (labelColumn: string | null) => {
      const form = new FormData();
      form.append('model', new Blob([await readFile(LOAN_MODEL)]), 'loan-model.onnx');
      form.append('labels', 'deny,approve');
      form.append('inputRange', 'late_payments=0:15');
      if (labelColumn !== null) form.append('labelColumn', labelColumn);
      form.append('calibration', new Blob([[header.join(','), ...rows].join('\n')]), 'calibration.csv');
      const up = await fetch(`${base}/v1/models`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` }, body: form });
      return { status: up.status, body: await up.json() };
    };
    const unnamed = await upload(null);
    expect(unnamed.status).toBe(400);
    expect(unnamed.body).toMatchObject({ code: 'INPUT_SHAPE', field: 'approved', message: expect.stringMatching(/"labelColumn" field/) });
    expect(JSON.stringify(unnamed.body)).not.toMatch(/--/);
    const up = await upload('approved');
    expect(up.status, JSON.stringify(up.body)).toBe(202);
    modelId = up.body.id;
    const ready = await poll(
      () => call('GET', `/v1/models/${modelId}`),
      (r) => r.body.status === 'ready' || r.body.status === 'failed',
    );
    // The worker compiled with the stored quantization and labels: same id, so it is ready.
    expect(ready.body.status, JSON.stringify(ready.body)).toBe('ready');
    // The fidelity report ran on the uploaded rows, not on synthetic ones.
    expect(ready.body.fidelity).toMatchObject({ inputs: 'calibration', samples: rows.length, compared: rows.length, outOfRange: 0, decisionFlips: 0 });
    const [row] = await app.db.query<{ input_quant: unknown; labels: unknown; calibration: unknown }>(
      'SELECT input_quant, labels, calibration FROM models WHERE id = $1',
      [modelId],
    );
    expect(row.labels).toEqual(['deny', 'approve']);
    expect(row.input_quant).not.toBeNull();
    expect(row.calibration).toBeNull();
    // A label column names a column of a calibration file: without one it is refused.
    const form = new FormData();
    form.append('model', new Blob([await readFile(LOAN_MODEL)]), 'loan-model.onnx');
    form.append('labelColumn', 'approved');
    const lone = await fetch(`${base}/v1/models`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` }, body: form });
    expect(lone.status).toBe(400);
    expect(await lone.json()).toMatchObject({ code: 'VALIDATION', field: 'labelColumn' });
  });

  it('a bad input is a 400 naming the feature and the bound, never the value, and no job', async () => {
    const before = (await app.db.query<{ n: number }>('SELECT count(*)::int AS n FROM proofs'))[0].n;
    const r = await call('POST', `/v1/models/${modelId}/proofs`, { input: { ...applicants[0].input, credit_score: BAD_VALUE } });
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ code: 'INPUT_RANGE', field: 'credit_score' });
    expect(r.body.message).toMatch(/credit_score.*range/);
    expect(r.text).not.toContain('987654321');
    const nonFinite = await call('POST', `/v1/models/${modelId}/proofs`, { input: { ...applicants[0].input, income: 'x' } });
    expect(nonFinite.status).toBe(400);
    expect((await app.db.query<{ n: number }>('SELECT count(*)::int AS n FROM proofs'))[0].n).toBe(before);
  });

  it('the idempotency table keeps a keyed fingerprint of the body (HMAC under a 0600 secret), not a guessable hash; a retry still finds its proof', async () => {
    const a = { input: { ...applicants[0].input, age: 52.5 }, salt: '12345' };
    const key = randomUUID();
    const first = await call('POST', `/v1/models/${modelId}/proofs`, a);
    expect(first.status).toBe(202);
    const r1 = await fetch(`${base}/v1/models/${modelId}/proofs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify(a),
    });
    const b1 = (await r1.json()) as { id: string };
    expect(r1.status).toBe(202);
    const [row] = await app.db.query<{ payload_hash: string }>('SELECT payload_hash FROM idempotency_keys WHERE key = $1', [key]);
    // Not the plain hash an attacker holding the table could recompute from guessed values.
    const guessable = sha256Hex(modelId, canonicalJson(a));
    expect(row.payload_hash).not.toContain(guessable);
    expect(row.payload_hash).toMatch(/^hmac1:[0-9a-f]{64}$/);
    // The secret is a file of its own, readable by the service's user only; any process
    // sharing the artifact store reads the same one and computes the same fingerprint.
    const secretFile = path.join(artifacts, 'secrets', 'idempotency.key');
    expect((await stat(secretFile)).mode & 0o777).toBe(0o600);
    expect((await stat(path.dirname(secretFile))).mode & 0o777).toBe(0o700);
    expect(row.payload_hash).toBe(payloadFingerprint(await serviceSecret('idempotency'), modelId, a));
    // A retry (keys reordered) finds the same proof; another payload is a 409.
    const retry = await fetch(`${base}/v1/models/${modelId}/proofs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify({ salt: a.salt, input: Object.fromEntries(Object.entries(a.input).reverse()) }),
    });
    expect(retry.status).toBe(202);
    expect(((await retry.json()) as { id: string }).id).toBe(b1.id);
    const other = await fetch(`${base}/v1/models/${modelId}/proofs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify({ ...a, salt: '12346' }),
    });
    expect(other.status).toBe(409);
    expect(((await other.json()) as { code: string }).code).toBe('IDEMPOTENCY_CONFLICT');
    // A key bound before the upgrade (its plain hash erased by migration 006) is a 409 that says so, not a second proof.
    await app.db.query("UPDATE idempotency_keys SET payload_hash = 'erased' WHERE key = $1", [key]);
    const legacy = await fetch(`${base}/v1/models/${modelId}/proofs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify(a),
    });
    expect(legacy.status).toBe(409);
    expect(((await legacy.json()) as { message: string }).message).toMatch(/bound before an upgrade/);
    // Both proofs finish (their receipts are erased so the search below starts clean).
    for (const id of [first.body.id, b1.id]) {
      const done = await poll(
        () => call('GET', `/v1/proofs/${id}`),
        (r) => r.body.status === 'done' || r.body.status === 'failed',
      );
      expect(done.body.status).toBe('done');
      await call('DELETE', `/v1/proofs/${id}/receipt`);
    }
  });

  it('proves a batch; receipts are 0600, fetched, erased on request and expire; then no raw value or salt is anywhere', async () => {
    for (const a of applicants) {
      const r = await call('POST', `/v1/models/${modelId}/proofs`, { input: a.input, salt: a.salt }, KEY);
      expect(r.status).toBe(202);
      proofIds.push(r.body.id);
    }
    // Each receipt is fetched as soon as its proof is done (the TTL is short).
    const fetched = new Map<string, Record<string, unknown>>();
    await poll(
      async () => {
        for (const id of proofIds) {
          if (fetched.has(id)) continue;
          const p = await call('GET', `/v1/proofs/${id}`);
          expect(p.body.status).not.toBe('failed');
          if (p.body.status === 'done') {
            const receipt = await call('GET', `/v1/proofs/${id}/receipt`);
            expect(receipt.status).toBe(200);
            fetched.set(id, receipt.body);
          }
        }
        return fetched.size;
      },
      (n) => n === proofIds.length,
    );
    expect(fetched.size).toBe(proofIds.length);
    applicants.forEach((a, i) => expect(fetched.get(proofIds[i])!.salt).toBe(a.salt));
    for (const id of proofIds) {
      const st = await stat(path.join(artifacts, 'proofs', id, 'receipt.json')).catch(() => null);
      if (st) expect(st.mode & 0o777).toBe(0o600);
    }
    // Another tenant cannot see or erase it.
    expect((await call('DELETE', `/v1/proofs/${proofIds[3]}/receipt`, undefined, OTHER)).status).toBe(404);
    // Erasure on request.
    const erased = await call('DELETE', `/v1/proofs/${proofIds[3]}/receipt`);
    expect(erased).toMatchObject({ status: 200, body: { id: proofIds[3], erased: true } });
    const gone = await call('GET', `/v1/proofs/${proofIds[3]}/receipt`);
    expect(gone.status).toBe(410);
    expect(gone.body.code).toBe('RECEIPT_GONE');
    expect((await call('DELETE', `/v1/proofs/${proofIds[3]}/receipt`)).status).toBe(410);
    // Expiry: the reconciler's sweep deletes the rest once RECEIPT_TTL passes.
    const t0 = Date.now();
    const left = await poll(
      async () => {
        let n = 0;
        for (const id of proofIds) if (await stat(path.join(artifacts, 'proofs', id, 'receipt.json')).catch(() => null)) n++;
        return n;
      },
      (n) => n === 0,
      RECEIPT_TTL_MS + 30_000,
    );
    console.log(`receipts swept ${((Date.now() - t0) / 1000).toFixed(1)} s after the last fetch (TTL ${RECEIPT_TTL_MS / 1000} s)`);
    expect(left).toBe(0);
    for (const id of proofIds.slice(0, 3)) {
      const r = await call('GET', `/v1/proofs/${id}/receipt`);
      expect(r.status).toBe(410);
    }
    // The proofs themselves still verify: the bundle holds the commitment, not the input.
    const p0 = await call('GET', `/v1/proofs/${proofIds[0]}`);
    const v = await call('POST', '/v1/verify', { bundle: p0.body.bundle });
    expect(v.body.valid).toBe(true);

    // Now search everything the service keeps.
    const needles: string[] = [String(BAD_VALUE), '987654321'];
    for (const a of applicants) {
      needles.push(a.salt);
      for (const v of Object.values(a.input)) if (!Number.isInteger(v)) needles.push(String(v));
    }
    for (const v of Object.values(CALIBRATION_ROW)) if (!Number.isInteger(v)) needles.push(String(v));
    const hits: string[] = [];
    const log = logs.join('');
    expect(log.length).toBeGreaterThan(1000);
    for (const n of needles) if (log.includes(n)) hits.push(`log: ${n}`);
    const tables = await app.db.query<{ table_name: string }>("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'");
    let rows = 0;
    for (const { table_name } of tables) {
      for (const r of await app.db.query<{ t: string }>(`SELECT row_to_json(x)::text AS t FROM "${table_name}" x`)) {
        rows++;
        for (const n of needles) if (r.t.includes(n)) hits.push(`table ${table_name}: ${n}`);
      }
    }
    expect((await app.db.query('SELECT 1 FROM proof_requests')).length).toBe(0);
    let fileCount = 0;
    let bytes = 0;
    for await (const f of files(artifacts)) {
      const data = await readFile(f);
      fileCount++;
      bytes += data.length;
      for (const n of needles) if (data.includes(n)) hits.push(`${path.relative(artifacts, f)}: ${n}`);
    }
    console.log(
      `searched ${needles.length} values: the log (${log.length} chars), ${rows} rows of ${tables.length} tables, ${fileCount} files (${(bytes / 2 ** 20).toFixed(1)} MB) under the artifact folder: ${hits.length} hits`,
    );
    expect(hits).toEqual([]);
    // Outside the artifact folder: the embedded database's own files (tables, write-ahead
    // log). Requests are stored there sealed under per-request keys, and every key was
    // erased when its proof ended: no raw value or salt is readable in them either.
    await app.stores.proofs.scrubDeletedRequests();
    const dbHits = new Set<string>();
    for await (const f of files(dbDir)) {
      const data = await readFile(f);
      for (const n of needles) if (data.includes(n)) dbHits.add(n);
    }
    console.log(`embedded database files, write-ahead log included: ${dbHits.size} of ${needles.length} values found`);
    expect([...dbHits]).toEqual([]);
    expect(await readdir(path.join(artifacts, 'request-keys')).catch(() => [])).toEqual([]);
  });
});
