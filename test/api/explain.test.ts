// Proven reasons and fairness over REST (issue #22): the upload's `reasons`, `baseline` and
// `protected` fields reach the stored record, the worker's compile gives a descriptor with
// `explain` under the same model id, and a proof's reasons and fairness (GET /v1/proofs/{id},
// POST /v1/verify) are what the integer reference gives. Embedded store, real Groth16.
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.ts';
import { type Config, loadConfig } from '../../src/service/config.ts';
import { loadModel, parseInput } from '../../src/model/index.ts';
import { type ExplainSettings, explainReference, explainSpecOf, quantizeInput, quantizeModel } from '../../src/quant/index.ts';
import { LOAN_APPLICANT, LOAN_BASELINE as BASELINE, LOAN_MODEL, REPO } from '../helpers/paths.ts';

const KEY = 'explain-prover-key-0123456789';
const VERIFIER = 'explain-verifier-key-0123456789';

let app: FastifyInstance;
let base: string;
const previousArtifacts = process.env.ZKINFER_ARTIFACTS;

const call = async (method: string, url: string, body?: unknown, key = KEY) => {
  const res = await fetch(base + url, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
};

async function poll<T>(fn: () => Promise<T>, done: (v: T) => boolean, ms = 400_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (done(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 300));
  }
}

async function upload(fields: [string, string][]) {
  const form = new FormData();
  form.append('model', new Blob([await readFile(LOAN_MODEL)]), 'loan-model.onnx');
  for (const [k, v] of fields) form.append(k, v);
  const res = await fetch(`${base}/v1/models`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` }, body: form });
  return { status: res.status, body: await res.json() };
}

beforeAll(async () => {
  process.env.ZKINFER_ARTIFACTS = await mkdtemp(path.join(tmpdir(), 'zkinfer-explain-artifacts-'));
  const config: Config = {
    ...loadConfig({}),
    host: '127.0.0.1',
    port: 0,
    dbDir: await mkdtemp(path.join(tmpdir(), 'zkinfer-explain-db-')),
    redisUrl: null,
    databaseUrl: null,
    reconcileIntervalMs: 500,
    queuePrefix: `test-${randomUUID()}`,
    apiKeys: [
      { key: KEY, role: 'prover', tenant: 'bank' },
      { key: VERIFIER, role: 'verifier', tenant: 'regulator' },
    ],
  };
  app = await buildApp({ config, logger: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
});

afterAll(async () => {
  await app?.close();
  if (previousArtifacts === undefined) delete process.env.ZKINFER_ARTIFACTS;
  else process.env.ZKINFER_ARTIFACTS = previousArtifacts;
});

describe('reasons and fairness over REST', () => {
  it('refuses bad reasons, baseline and protected fields with a 400 naming the field', async () => {
    const cases: [[string, string][], string][] = [
      [[['reasons', 'four']], 'reasons'],
      [[['reasons', '99']], 'reasons'],
      [[['reasons', '4']], 'baseline'],
      [[['baseline', JSON.stringify(BASELINE)]], 'baseline'],
      [
        [
          ['reasons', '4'],
          ['baseline', '{not json'],
        ],
        'baseline',
      ],
      [
        [
          ['reasons', '4'],
          ['baseline', '[1, 2]'],
        ],
        'baseline',
      ],
      [
        [
          ['reasons', '4'],
          ['baseline', JSON.stringify({ ...BASELINE, credit_score: 1e12 })],
        ],
        'baseline',
      ],
      [[['protected', 'height=1,2']], 'protected'],
      [[['protected', 'age']], 'protected'],
      [[['protected', '=25']], 'protected'],
    ];
    for (const [fields, field] of cases) {
      const r = await upload(fields);
      expect(r.status, `${JSON.stringify(fields)}: ${JSON.stringify(r.body)}`).toBe(400);
      expect(r.body, JSON.stringify(fields)).toMatchObject({ code: 'VALIDATION', field });
    }
    expect((await app.db.query<{ n: number }>('SELECT count(*)::int AS n FROM models'))[0].n).toBe(0);
  });

  it('compiles the upload with explain, proves the example applicant, and serves and verifies the proven reasons and fairness', async () => {
    const up = await upload([
      ['labels', 'deny,approve'],
      ['reasons', '4'],
      ['baseline', JSON.stringify(BASELINE)],
      ['protected', 'age=25,60'],
    ]);
    expect(up.status, JSON.stringify(up.body)).toBe(202);
    const modelId = up.body.id as string;
    // The same upload without explain is another model.
    const plain = await upload([['labels', 'deny,approve']]);
    expect(plain.status).toBe(202);
    expect(plain.body.id).not.toBe(modelId);

    const ready = await poll(
      () => call('GET', `/v1/models/${modelId}`),
      (r) => r.body.status === 'ready' || r.body.status === 'failed',
    );
    // The worker recompiled from the stored settings: same id, hence ready.
    expect(ready.body.status, JSON.stringify(ready.body.reason)).toBe('ready');
    const explain = ready.body.descriptor.explain as ExplainSettings;
    expect(explain).toMatchObject({ reasons: 4, baseline: Object.values(BASELINE), protected: [{ feature: 'age', values: [25, 60] }] });
    expect(ready.body.explain).toEqual(explain);

    const applicant = JSON.parse(await readFile(LOAN_APPLICANT, 'utf8'));
    const req = await call('POST', `/v1/models/${modelId}/proofs`, { input: applicant });
    expect(req.status, JSON.stringify(req.body)).toBe(202);
    const done = await poll(
      () => call('GET', `/v1/proofs/${req.body.id}`),
      (r) => r.body.status === 'done' || r.body.status === 'failed',
    );
    expect(done.body.status, JSON.stringify(done.body)).toBe('done');
    const bundle = done.body.bundle;

    // The integer reference, from the descriptor alone.
    const { ir } = await loadModel(LOAN_MODEL);
    const d = ready.body.descriptor;
    const q = quantizeModel(ir, d.settings, d.inputQuant);
    const spec = explainSpecOf(explain, q);
    const ref = explainReference(q, spec, quantizeInput(q, parseInput(applicant, ir)));
    expect(ref.reasons).toHaveLength(4);
    const reasons = ref.reasons.map((r) => ({ feature: explain.features[r.feature].name, index: r.feature, contributionInteger: r.contribution.toString() }));
    const fairness = ref.fair.map((unchanged) => ({ feature: 'age', unchanged }));
    expect(bundle.outputs.reasons).toMatchObject(reasons);
    expect(bundle.outputs.fairness).toEqual(fairness);

    const ok = await call('POST', '/v1/verify', { bundle }, VERIFIER);
    expect(ok.body, JSON.stringify(ok.body)).toMatchObject({ valid: true, modelId, outputs: { reasons, fairness } });
    expect(ok.body.reasonsText).toMatch(new RegExp(`^Principal reasons: 1\\. ${reasons[0].feature} \\(`));
    for (const r of reasons) expect(ok.body.reasonsText).toContain(r.feature);
    expect(ok.body.fairnessText).toEqual([
      ref.fair[0] ? 'Decision unchanged for every value of: age' : 'Decision CHANGES with the value of: age (tested: 25, 60)',
    ]);

    // An edited reason (another feature's name, or another contribution) is not what was proven.
    const renamed = structuredClone(bundle);
    renamed.outputs.reasons[0].feature = reasons[1].feature;
    const bumped = structuredClone(bundle);
    bumped.outputs.reasons[0].contributionInteger = String(BigInt(reasons[0].contributionInteger) + 1n);
    bumped.outputs.reasons[0].contribution += 0.5;
    const flipped = structuredClone(bundle);
    flipped.outputs.fairness[0].unchanged = !flipped.outputs.fairness[0].unchanged;
    for (const edited of [renamed, bumped, flipped]) {
      const bad = await call('POST', '/v1/verify', { bundle: edited }, VERIFIER);
      expect(bad.status).toBe(200);
      expect(bad.body, JSON.stringify(bad.body)).toMatchObject({ valid: false, outputs: null });
      expect(bad.body.reasonsText).toBeUndefined();
    }
  }, 900_000);

  it('without a baseline, the calibration rows\' mean is the default; protected fields may list several features separated by ";"', async () => {
    const csv = await readFile(path.join(REPO, 'examples', 'loan', 'test-set.csv'), 'utf8');
    const [header, ...lines] = csv.trim().split('\n');
    const names = header.split(',').slice(0, -1);
    const rows = lines.map((l) => l.split(',').map(Number));
    const form = new FormData();
    form.append('model', new Blob([await readFile(LOAN_MODEL)]), 'loan-model.onnx');
    form.append('reasons', '3');
    form.append('protected', 'age=30;late_payments=0,5');
    form.append('calibration', new Blob([csv]), 'test-set.csv');
    form.append('labelColumn', 'approved');
    const res = await fetch(`${base}/v1/models`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` }, body: form });
    const up = await res.json();
    expect(res.status, JSON.stringify(up)).toBe(202);
    const m = await call('GET', `/v1/models/${up.id}`);
    const explain = m.body.explain as ExplainSettings;
    expect(explain.reasons).toBe(3);
    expect(explain.protected).toEqual([
      { feature: 'age', values: [30] },
      { feature: 'late_payments', values: [0, 5] },
    ]);
    names.forEach((_, j) => expect(explain.baseline[j]).toBeCloseTo(rows.reduce((a, r) => a + r[j], 0) / rows.length, 9));
  });
});
