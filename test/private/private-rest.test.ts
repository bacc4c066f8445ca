// A private model through the real service (embedded store, its own worker): registered
// with visibility=private, proved and verified over REST; its file is not served, its
// blinding only to its owner; and none of its quantized parameters is in the log, the
// database, the bundle, the key or the circuit the service publishes.
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.ts';
import { type Config, loadConfig } from '../../src/service/config.ts';
import { compileModel } from '../../src/pipeline/index.ts';
import { LOAN_APPLICANT, LOAN_MODEL } from '../helpers/paths.ts';
import { cli } from '../helpers/cli.ts';

const KEY = 'private-prover-key-0123456789';
const OTHER = 'private-other-prover-key-01234';
const REGULATOR = 'private-verifier-key-0123456789';
const BLINDING = 3141592653589793238462643383279502884197n;

let app: FastifyInstance;
let base: string;
const logs: string[] = [];
const previousArtifacts = process.env.ZKINFER_ARTIFACTS;

const call = async (method: string, url: string, body?: unknown, key = KEY) => {
  const res = await fetch(base + url, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: any = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  return { status: res.status, text, body: parsed };
};

async function poll<T>(fn: () => Promise<T>, done: (v: T) => boolean, ms = 600_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (done(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function upload(fields: Record<string, string>) {
  const form = new FormData();
  form.append('model', new Blob([await readFile(LOAN_MODEL)]), 'loan-model.onnx');
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  const res = await fetch(`${base}/v1/models`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` }, body: form });
  return { status: res.status, body: (await res.json()) as any };
}

beforeAll(async () => {
  process.env.ZKINFER_ARTIFACTS = await mkdtemp(path.join(tmpdir(), 'zkinfer-private-artifacts-'));
  const config: Config = {
    ...loadConfig({}),
    host: '127.0.0.1',
    port: 0,
    dbDir: await mkdtemp(path.join(tmpdir(), 'zkinfer-private-db-')),
    redisUrl: null,
    databaseUrl: null,
    reconcileIntervalMs: 500,
    queuePrefix: `test-${randomUUID()}`,
    apiKeys: [
      { key: KEY, role: 'prover', tenant: 'bank' },
      { key: OTHER, role: 'prover', tenant: 'other' },
      { key: REGULATOR, role: 'verifier', tenant: 'regulator' },
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

describe('a private model over REST', () => {
  let modelId: string;
  let bundle: any;

  it('refuses a bad visibility or blinding, naming the field', async () => {
    const a = await upload({ visibility: 'secret' });
    expect(a.status).toBe(400);
    expect(a.body).toMatchObject({ code: 'VALIDATION', field: 'visibility' });
    const b = await upload({ blinding: '5' });
    expect(b.status).toBe(400);
    expect(b.body).toMatchObject({ field: 'blinding' });
    const c = await upload({ visibility: 'private', blinding: '-5' });
    expect(c.status).toBe(400);
    expect(c.body).toMatchObject({ field: 'blinding' });
  });

  it('registers, compiles and sets up a private model; the record says private and shows the commitment', async () => {
    const up = await upload({ visibility: 'private', blinding: BLINDING.toString(), labels: 'deny,approve' });
    expect(up.status, JSON.stringify(up.body)).toBe(202);
    modelId = up.body.id;
    const ready = await poll(
      () => call('GET', `/v1/models/${modelId}`),
      (r) => r.body.status === 'ready' || r.body.status === 'failed',
    );
    expect(ready.body.status, JSON.stringify(ready.body)).toBe('ready');
    expect(ready.body.visibility).toBe('private');
    expect(ready.body.descriptor.parameters).toMatchObject({ visibility: 'private', count: expect.any(Number) });
    expect(ready.text).not.toContain(BLINDING.toString());
    // The same file registered as public is another model.
    const pub = await upload({});
    expect(pub.status).toBe(202);
    expect(pub.body.id).not.toBe(modelId);
  });

  it('serves its circuit and key, never its file; the blinding only to its owner', async () => {
    const file = await call('GET', `/v1/models/${modelId}/artifacts/model`, undefined, REGULATOR);
    expect(file.status).toBe(403);
    expect(file.body).toMatchObject({ code: 'PRIVATE_MODEL' });
    const own = await call('GET', `/v1/models/${modelId}/artifacts/model`);
    expect(own.status).toBe(403);
    expect((await call('GET', `/v1/models/${modelId}/artifacts/circuit`, undefined, REGULATOR)).status).toBe(200);
    const b = await call('GET', `/v1/models/${modelId}/blinding`);
    expect(b.status).toBe(200);
    expect(b.body).toEqual({ format: 'zkinfer.blinding', blinding: BLINDING.toString() });
    expect((await call('GET', `/v1/models/${modelId}/blinding`, undefined, OTHER)).status).toBe(404);
    expect((await call('GET', `/v1/models/${modelId}/blinding`, undefined, REGULATOR)).status).toBe(403);
  });

  it('proves and verifies a decision; the verdict names the parameter commitment', async () => {
    const applicant = JSON.parse(await readFile(LOAN_APPLICANT, 'utf8'));
    const r = await call('POST', `/v1/models/${modelId}/proofs`, { input: applicant });
    expect(r.status, r.text).toBe(202);
    const done = await poll(
      () => call('GET', `/v1/proofs/${r.body.id}`),
      (x) => x.body.status === 'done' || x.body.status === 'failed',
    );
    expect(done.body.status, JSON.stringify(done.body)).toBe('done');
    bundle = done.body.bundle;
    expect(bundle.model.parameters.visibility).toBe('private');
    const v = await call('POST', '/v1/verify', { bundle }, REGULATOR);
    expect(v.status, v.text).toBe(200);
    expect(v.body.valid).toBe(true);
    expect(v.body.parameters).toEqual(bundle.model.parameters);
  });

  it('a regulator given the file and the blinding audits the key from the service: exit 0', { timeout: 900_000 }, async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-private-audit-'));
    const blinding = path.join(dir, 'bank.blinding');
    await writeFile(blinding, (await call('GET', `/v1/models/${modelId}/blinding`)).text);
    const r = await cli(['audit', '--service', base, '--model-id', modelId, '--api-key', REGULATOR, '--private', LOAN_MODEL, '--blinding', blinding]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/descriptor is this model\u2019s, field for field/);
    // Without the file, the audit says why it cannot run (exit 2), not that the key is wrong.
    const without = await cli(['audit', '--service', base, '--model-id', modelId, '--api-key', REGULATOR]);
    expect(without.code).toBe(2);
    expect(without.stderr).toMatch(/this model is private: the service does not serve its file/);
  });

  it('none of its quantized parameters is in the log, the database, the bundle, the key or the circuit it serves', async () => {
    const m = await compileModel(LOAN_MODEL, { fidelity: false, visibility: 'private', blinding: BLINDING, labels: ['deny', 'approve'] });
    expect(m.modelId).toBe(modelId);
    const layers = m.quantized.layers.filter((l) => l.kind === 'dense') as { weights: bigint[]; bias: bigint[] }[];
    const values = [...layers.flatMap((l) => [...l.weights, ...l.bias]), ...m.secret!.params];
    const big = [...new Set(values.filter((v) => v > 1000n || v < -1000n).map(String))];
    expect(big.length).toBeGreaterThan(20);
    const tables = await app.db.query<{ table_name: string }>("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'");
    const rows: string[] = [];
    for (const t of tables) rows.push(JSON.stringify(await app.db.query(`SELECT * FROM "${t.table_name}"`)));
    const circuit = await call('GET', `/v1/models/${modelId}/artifacts/circuit`, undefined, REGULATOR);
    const vkey = await call('GET', `/v1/models/${modelId}/vkey`, undefined, REGULATOR);
    const record = await call('GET', `/v1/models/${modelId}`, undefined, REGULATOR);
    const places = {
      // Without the logger's own fields (a process id such as 1333 is not the weight 1333).
      log: logs.join('\n').replace(/"(pid|time|hostname|responseTime|reqId|port)":("[^"]*"|[\d.]+)/g, ''),
      database: rows.join('\n'),
      bundle: JSON.stringify(bundle),
      vkey: vkey.text,
      circuit: circuit.text,
      record: record.text,
    };
    for (const [where, text] of Object.entries(places)) {
      // Whole numbers only: a timing such as 1333.52 ms in a log line is not the weight 1333.
      const seen = new Set(text.match(/-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?/g) ?? []);
      expect(
        big.filter((v) => seen.has(v)),
        where,
      ).toEqual([]);
    }
  });
});
