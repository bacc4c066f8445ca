// Issue 20, item 3: a regulator audits a calibrated, labelled model registered over REST
// from what the service publishes, with one command: the model descriptor (GET
// /v1/models/{id}, every bundle's `model`) fixes how the audit compiles (settings,
// per-feature inputQuant, labels), so no flag is copied by hand. The real service runs
// embedded (PGlite, its own worker process); every audit is the real CLI, recompiling the
// circuit in a folder of its own.
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.ts';
import { type Config, loadConfig } from '../../src/service/config.ts';
import { cli } from '../helpers/cli.ts';
import { LOAN_APPLICANT, LOAN_MODEL, REPO } from '../helpers/paths.ts';

const PROVER = 'auditdesc-prover-key-0123456789';
const REGULATOR = 'auditdesc-regulator-key-0123456';

let app: FastifyInstance;
let base: string;
let dir: string;
let modelId: string;
let record: any;
let auditorEnv: NodeJS.ProcessEnv;
const files = { vkey: '', zkey: '', ptau: '', r1cs: '', record: '', bundle: '' };
const previousArtifacts = process.env.ZKINFER_ARTIFACTS;

async function poll<T>(fn: () => Promise<T>, done: (v: T) => boolean, ms = 300_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (done(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
}

const call = async (method: string, url: string, key: string, body?: unknown) => {
  const res = await fetch(base + url, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
};

async function download(url: string, file: string): Promise<string> {
  const res = await fetch(base + url, { headers: { authorization: `Bearer ${REGULATOR}` } });
  expect(res.status, url).toBe(200);
  await writeFile(file, Buffer.from(await res.arrayBuffer()));
  return file;
}

const audit = (args: string[]) => cli(['audit', ...args], auditorEnv);
const published = () => ['--vkey', files.vkey, '--zkey', files.zkey, '--ptau', files.ptau, '--r1cs', files.r1cs];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-auditdesc-'));
  process.env.ZKINFER_ARTIFACTS = path.join(dir, 'service-artifacts');
  const config: Config = {
    ...loadConfig({}),
    host: '127.0.0.1',
    port: 0,
    dbDir: path.join(dir, 'db'),
    redisUrl: null,
    databaseUrl: null,
    reconcileIntervalMs: 500,
    queuePrefix: `test-${randomUUID()}`,
    apiKeys: [
      { key: PROVER, role: 'prover', tenant: 'bank' },
      { key: REGULATOR, role: 'verifier', tenant: 'regulator' },
    ],
  };
  app = await buildApp({ config });
  await app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  // The auditor compiles in an artifact folder of its own: nothing is shared with the service.
  auditorEnv = { ...process.env, ZKINFER_ARTIFACTS: path.join(dir, 'auditor-artifacts') };

  // The bank registers the loan model with labels and a calibration file of a few rows.
  const csv = (await readFile(path.join(REPO, 'examples', 'loan', 'test-set.csv'), 'utf8')).trim().split('\n');
  const calibration = csv
    .slice(0, 13)
    .map((l) => l.split(',').slice(0, -1).join(','))
    .join('\n');
  const form = new FormData();
  form.append('model', new Blob([await readFile(LOAN_MODEL)]), 'loan-model.onnx');
  form.append('labels', 'decline,approve');
  form.append('calibration', new Blob([calibration]), 'calib.csv');
  const up = await fetch(`${base}/v1/models`, { method: 'POST', headers: { authorization: `Bearer ${PROVER}` }, body: form });
  const accepted = await up.json();
  expect(up.status, JSON.stringify(accepted)).toBe(202);
  modelId = accepted.id;
  const ready = await poll(
    () => call('GET', `/v1/models/${modelId}`, REGULATOR),
    (r) => r.body.status === 'ready' || r.body.status === 'failed',
  );
  expect(ready.body.status, JSON.stringify(ready.body)).toBe('ready');
  record = ready.body;

  // What the service publishes, fetched as the README shows (a verifier key).
  files.record = path.join(dir, 'model.json');
  await writeFile(files.record, JSON.stringify(record, null, 2));
  files.vkey = await download(`/v1/models/${modelId}/vkey`, path.join(dir, 'vkey.json'));
  files.zkey = await download(`/v1/models/${modelId}/artifacts/zkey`, path.join(dir, 'circuit.zkey'));
  files.ptau = await download(`/v1/models/${modelId}/artifacts/ptau`, path.join(dir, 'setup.ptau'));
  files.r1cs = await download(`/v1/models/${modelId}/artifacts/r1cs`, path.join(dir, 'main.r1cs'));

  // One proof through the service: its bundle carries the same descriptor.
  const req = await call('POST', `/v1/models/${modelId}/proofs`, PROVER, { input: JSON.parse(await readFile(LOAN_APPLICANT, 'utf8')) });
  expect(req.status, JSON.stringify(req.body)).toBe(202);
  const done = await poll(
    () => call('GET', `/v1/proofs/${req.body.id}`, PROVER),
    (r) => r.body.status === 'done' || r.body.status === 'failed',
  );
  expect(done.body.status, JSON.stringify(done.body)).toBe('done');
  files.bundle = path.join(dir, 'bundle.json');
  await writeFile(files.bundle, JSON.stringify(done.body.bundle));
}, 600_000);

afterAll(async () => {
  await app?.close();
  if (previousArtifacts === undefined) delete process.env.ZKINFER_ARTIFACTS;
  else process.env.ZKINFER_ARTIFACTS = previousArtifacts;
});

describe('the model descriptor the service publishes', () => {
  it('GET /v1/models/{id} shows the labels, the per-feature quantization and the full descriptor, the same as in a bundle', async () => {
    expect(record.labels).toEqual(['decline', 'approve']);
    expect(record.inputQuant.bits).toHaveLength(8);
    expect(record.descriptor).toMatchObject({
      format: 'zkinfer.model-descriptor',
      id: modelId,
      labels: ['decline', 'approve'],
      settings: { scaleBits: 10, bits: 32 },
      commitment: record.commitment,
    });
    expect(record.descriptor.inputQuant).toEqual(record.inputQuant);
    // Calibration narrowed some feature: without it, the audit would not compile this circuit.
    expect(record.inputQuant.bits.some((b: number) => b !== 22)).toBe(true);
    expect(record.versions[0].descriptor).toEqual(record.descriptor);
    const bundle = JSON.parse(await readFile(files.bundle, 'utf8'));
    expect(bundle.model).toEqual(record.descriptor);
    // The ONNX file is published too (an audit recomputes the model id from its bytes).
    const onnx = await fetch(`${base}/v1/models/${modelId}/artifacts/model`, { headers: { authorization: `Bearer ${REGULATOR}` } });
    expect(onnx.status).toBe(200);
    const bytes = Buffer.from(await onnx.arrayBuffer());
    expect(bytes.equals(await readFile(LOAN_MODEL))).toBe(true);
    expect(onnx.headers.get('x-zkinfer-sha256')).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect((await call('GET', `/v1/models/${modelId}/artifacts/model?version=9`, REGULATOR)).body).toMatchObject({ code: 'NOT_FOUND', field: 'version' });
    // Only the files the record lists are served as external data.
    const other = await call('GET', `/v1/models/${modelId}/artifacts/external/loan-model.onnx`, REGULATOR);
    expect(other).toMatchObject({ status: 404, body: { code: 'NOT_FOUND', field: 'name' } });
    expect(record.externalFiles).toBeUndefined();
  });
});

describe('zkinfer audit from the published descriptor', () => {
  it("the old way, without the descriptor and without copied flags, fails: the r1cs compiled here is not the service's", async () => {
    const r = await audit([LOAN_MODEL, ...published()]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/the r1cs link broke/);
    expect(r.stdout).toMatch(/the published r1cs \([0-9a-f]{64}\) is not the one compiled here/);
  });

  it('passes with --descriptor (the model record as GET /v1/models/{id} returns it): one command, no flags copied', async () => {
    const r = await audit([LOAN_MODEL, '--descriptor', files.record, ...published(), '--json']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.ok).toBe(true);
    expect(report.links.map((l: { name: string; ok: boolean }) => [l.name, l.ok])).toEqual([
      ['circuit', true],
      ['descriptor', true],
      ['r1cs', true],
      ['zkey', true],
      ['phase1', true],
      ['vkey', true],
    ]);
    // The same model id and the same r1cs, byte for byte, as the service's.
    expect(report.modelId).toBe(modelId);
    expect(report.r1csSha256).toBe(record.setup.r1csSha256);
    expect(report.r1csSha256).toBe(
      createHash('sha256')
        .update(await readFile(files.r1cs))
        .digest('hex'),
    );
    expect(report.descriptor).toEqual(Object.fromEntries(Object.entries(record.descriptor).filter(([k]) => k !== 'commitment')));
    expect(report.commitment).toBe(record.commitment);
  });

  it("passes with --bundle alone (the bundle's model is the descriptor), and with a bare descriptor file", async () => {
    const fromBundle = await audit([LOAN_MODEL, '--bundle', files.bundle, ...published()]);
    expect(fromBundle.code, fromBundle.stdout + fromBundle.stderr).toBe(0);
    expect(fromBundle.stdout).toMatch(/^KEY ENCODES THE MODEL, ON A DEVELOPMENT SETUP: every link holds\nSETUP: DEVELOPMENT/);
    expect(fromBundle.stdout).toMatch(/ok {3}descriptor: the bundle's descriptor is this model.s, field for field/);
    const bare = path.join(dir, 'descriptor.json');
    await writeFile(bare, JSON.stringify(record.descriptor));
    const r = await audit([LOAN_MODEL, '--descriptor', bare, '--bundle', files.bundle, ...published()]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout.match(/ok {3}descriptor/g)).toHaveLength(2);
  });

  it('one command from the service: --service URL --model-id ID --api-key (a verifier key) downloads everything and audits it', async () => {
    const keep = path.join(dir, 'downloaded');
    const r = await audit(['--service', base, '--model-id', modelId, '--api-key', REGULATOR, '--keep', keep]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^KEY ENCODES THE MODEL, ON A DEVELOPMENT SETUP: every link holds\nSETUP: DEVELOPMENT/);
    expect(r.stdout).toMatch(/ok {3}r1cs: the published r1cs is the one compiled here/);
    expect(r.stdout).toMatch(/ok {3}descriptor: the service's descriptor is this model.s, field for field/);
    expect(r.stdout).toContain(`model ${modelId}`);
    expect(r.stderr).toMatch(/downloaded the ptau: [\d,]+ bytes/);
    expect((await readFile(path.join(keep, 'setup.ptau'))).equals(await readFile(files.ptau))).toBe(true);
    // A wrong key is a usage error naming it, not a failed audit.
    const denied = await audit(['--service', base, '--model-id', modelId, '--api-key', 'not-a-key-0123456789']);
    expect(denied.code).toBe(2);
    expect(denied.stderr).toMatch(/the service refused the model record \(401/);
  });
});

describe('an edited descriptor fails the audit', () => {
  const edited = async (name: string, edit: (d: any) => void) => {
    const d = structuredClone(record);
    edit(d.descriptor);
    const file = path.join(dir, name);
    await writeFile(file, JSON.stringify(d));
    return file;
  };

  it('one label changed: exit 1, the descriptor link broken at the id (which covers the labels), and the r1cs and zkey links', async () => {
    const file = await edited('labels-edited.json', (d) => (d.labels[0] = 'approve-anyway'));
    const r = await audit([LOAN_MODEL, '--descriptor', file, ...published()]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/^KEY NOT SHOWN TO ENCODE THE MODEL: the descriptor link broke/);
    expect(r.stdout).toMatch(
      /FAIL descriptor: .*differs from this model.s at id \(the id is the hash of the ONNX bytes with the settings, publicInput, inputQuant, labels and explain/,
    );
    expect(r.stdout).toMatch(/FAIL r1cs/);
    expect(r.stdout).toMatch(/FAIL zkey/);
  });

  it('inputQuant.bits[0] changed: exit 1, the descriptor link broken at the circuit hash and the id', async () => {
    const file = await edited('bits-edited.json', (d) => (d.inputQuant.bits[0] += 1));
    const r = await audit([LOAN_MODEL, '--descriptor', file, ...published()]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/FAIL descriptor: .*differs from this model.s at circuitHash, id \(/);
    expect(r.stdout).toMatch(/FAIL r1cs/);
  });

  it('only the commitment beside the descriptor changed: exit 1 naming the commitment', async () => {
    const file = await edited('commitment-edited.json', (d) => (d.commitment = '12345'));
    const r = await audit([LOAN_MODEL, '--descriptor', file, ...published()]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/FAIL descriptor: \S*commitment-edited\.json's descriptor is this model.s but its commitment \(12345\) is not/);
    expect(r.stdout).toMatch(/ok {3}r1cs/);
  });

  it('the published descriptor with a bundle whose label was edited: exit 1 naming labels[0]', async () => {
    const bundle = JSON.parse(await readFile(files.bundle, 'utf8'));
    bundle.model.labels[0] = 'approve';
    const file = path.join(dir, 'bundle-edited.json');
    await writeFile(file, JSON.stringify(bundle));
    const r = await audit([LOAN_MODEL, '--descriptor', files.record, '--bundle', file, ...published()]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/FAIL descriptor: the bundle's descriptor differs from this model.s at labels\[0\]$/m);
    // The service's descriptor still holds, and so does every other link.
    expect(r.stdout).toMatch(/ok {3}descriptor: \S*model\.json's descriptor is this model.s/);
    expect(r.stdout).toMatch(/ok {3}r1cs/);
  });
});

describe('unusable input: exit 2 naming the flag or field', () => {
  it('a flag that disagrees with the descriptor', async () => {
    const r = await audit([LOAN_MODEL, '--descriptor', files.record, '--scale', '9', ...published()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--scale 9 disagrees with .*model\.json: its settings\.scaleBits is 10/);
    const labels = await audit([LOAN_MODEL, '--descriptor', files.record, '--labels', 'no,yes', ...published()]);
    expect(labels.code).toBe(2);
    expect(labels.stderr).toMatch(/--labels no,yes disagrees with .*its labels is \["decline","approve"\]/);
    const ranges = await audit([LOAN_MODEL, '--descriptor', files.record, '--input-range', 'age=0:120', ...published()]);
    expect(ranges.code).toBe(2);
    expect(ranges.stderr).toMatch(/--input-range cannot be used with .*inputQuant/);
    // A flag that agrees is harmless.
    const same = await audit([
      LOAN_MODEL,
      '--descriptor',
      files.record,
      '--model-version',
      '1',
      '--scale',
      '10',
      '--labels',
      'decline,approve',
      ...published(),
    ]);
    expect(same.code, same.stdout + same.stderr).toBe(0);
  });

  it('a descriptor file that is not one, or holds a field the compiler cannot take', async () => {
    const notOne = path.join(dir, 'not-a-descriptor.json');
    await writeFile(notOne, JSON.stringify({ hello: 'world' }));
    const r = await audit([LOAN_MODEL, '--descriptor', notOne, ...published()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not-a-descriptor\.json holds no model descriptor/);
    const d = structuredClone(record);
    d.descriptor.inputQuant.bits[2] = 'wide';
    const badField = path.join(dir, 'bad-field.json');
    await writeFile(badField, JSON.stringify(d));
    const r2 = await audit([LOAN_MODEL, '--descriptor', badField, ...published()]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/bad-field\.json: the descriptor's inputQuant\.bits\[2\] must be a whole number/);
    const noVersion = await audit([LOAN_MODEL, '--descriptor', files.record, '--model-version', '7', ...published()]);
    expect(noVersion.code).toBe(2);
    expect(noVersion.stderr).toMatch(/has no descriptor for version 7/);
  });
});

describe('a changed bundle.model is named the same by REST and the CLI (#25, item 12)', () => {
  it('an edited label: REST and `verify --descriptor` name model.labels[0]; without the descriptor the CLI lists labels among the fields', async () => {
    const bundle = JSON.parse(await readFile(files.bundle, 'utf8'));
    bundle.model.labels[0] = 'approve';
    const file = path.join(dir, 'bundle-label-edited.json');
    await writeFile(file, JSON.stringify(bundle));
    const rest = await call('POST', '/v1/verify', REGULATOR, { bundle });
    expect(rest.status).toBe(200);
    expect(rest.body).toMatchObject({ valid: false, field: 'model.labels[0]' });
    const named = await cli(['verify', file, '--descriptor', files.record]);
    expect(named.code).toBe(1);
    expect(named.stdout.split('\n')[0]).toBe(`INVALID: ${rest.body.reason} (field model.labels[0])`);
    const json = await cli(['verify', file, '--descriptor', files.record, '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ valid: false, reason: rest.body.reason, field: 'model.labels[0]' });
    // Without it no hash says which field changed: the message names every hashed field, labels too.
    const plain = await cli(['verify', file]);
    expect(plain.code).toBe(1);
    expect(plain.stdout).toMatch(/^INVALID: the model descriptor does not hash to the model commitment .*\(.*\blabels\b.*\).*give the published descriptor/m);
    // The untouched bundle verifies with the published descriptor.
    expect((await cli(['verify', files.bundle, '--descriptor', files.record])).code).toBe(0);
  });
});

describe('REST names the decision as the CLI does (#25, item 14)', () => {
  it('POST /v1/verify gives outputs.decisionLabels, the words `zkinfer verify` prints after "decision"', async () => {
    const bundle = JSON.parse(await readFile(files.bundle, 'utf8'));
    const rest = await call('POST', '/v1/verify', REGULATOR, { bundle });
    expect(rest.body.valid).toBe(true);
    const { decision, decisionLabels } = rest.body.outputs;
    expect(decisionLabels).toHaveLength(decision.length);
    expect(decisionLabels[0]).toBe(decision[0] === 1 ? '1: approve (logit \u2265 0)' : '0: decline (logit < 0)');
    const local = await cli(['verify', files.bundle]);
    expect(local.code).toBe(0);
    expect(local.stdout).toContain(`\ndecision ${decisionLabels.join('; ')}\n`);
  });
});

describe('the verification page names a changed bundle.model as REST does (#25, item 12)', () => {
  it('verifyHere with the key from this service names model.labels[0]; with the key in the bundle (no service) it lists labels', async () => {
    const { verifyHere } = await import('../../src/web/session.ts');
    const bundle = JSON.parse(await readFile(files.bundle, 'utf8'));
    bundle.model.labels[0] = 'approve';
    const rest = await call('POST', '/v1/verify', REGULATOR, { bundle });
    // The page's relative URLs (fetch('/v1/...')) resolve against the service, as in the browser.
    const realFetch = globalThis.fetch;
    globalThis.fetch = ((url: string | URL, init?: RequestInit) => realFetch(new URL(url, base), init)) as typeof fetch;
    try {
      const served = await verifyHere(JSON.stringify(bundle), { kind: 'service', apiKey: REGULATOR }, null);
      expect(served.result).toMatchObject({ valid: false, field: 'model.labels[0]', reason: rest.body.reason });
      const standalone = await verifyHere(JSON.stringify(bundle), { kind: 'bundle' }, null);
      expect(standalone.result).toMatchObject({ valid: false, field: 'model' });
      expect(standalone.result.reason).toMatch(/some field of bundle\.model \(.*\blabels\b.*\)/);
      const untouched = await verifyHere(await readFile(files.bundle, 'utf8'), { kind: 'service', apiKey: REGULATOR }, null);
      expect(untouched.result.valid).toBe(true);
    } finally {
      globalThis.fetch = realFetch;
    }
  });
});
