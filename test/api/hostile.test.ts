// Hostile requests (issue #12): credentials are checked before a body is read, rate limits
// count per key and per address, bodies are bounded per route, JSON nesting and signal
// lengths are bounded, and a hostile ONNX upload is refused without stalling the API.
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.ts';
import { type Config, loadConfig } from '../../src/service/config.ts';
import { buildOnnx } from '../../src/model/index.ts';
import { redisConnection } from '../../src/queue/index.ts';
import { findRedis } from '../helpers/redis.ts';
import { LOAN_MODEL } from '../helpers/paths.ts';

const redis = await findRedis();
const KEY = 'hostile-prover-key-0123456789';
const VERIFIER = 'hostile-verifier-key-0123456789';
const conns: Redis[] = [];
const apps: FastifyInstance[] = [];

/** An API on the embedded store, nothing running in the background; rate limits on Redis when there is one. */
async function start(over: Partial<Config> = {}): Promise<{ app: FastifyInstance; base: string }> {
  const config: Config = {
    ...loadConfig({}),
    host: '127.0.0.1',
    port: 0,
    dbDir: 'memory://',
    queuePrefix: `test-${randomUUID()}`,
    apiKeys: [
      { key: KEY, role: 'prover', tenant: 'bank' },
      { key: VERIFIER, role: 'verifier', tenant: 'bank' },
    ],
    ...over,
  };
  let conn: Redis | null = null;
  if (redis.url) {
    conn = redisConnection(redis.url);
    conn.on('error', () => {});
    conns.push(conn);
  }
  const app = await buildApp({ config, background: false, redis: conn });
  await app.listen({ host: '127.0.0.1', port: 0 });
  apps.push(app);
  return { app, base: `http://127.0.0.1:${(app.server.address() as { port: number }).port}` };
}

afterAll(async () => {
  for (const a of apps) await a.close();
  for (const c of conns) c.disconnect();
  redis.stop();
});

/** Polls /healthz every 20 ms while `during` runs; returns the slowest answer in ms. */
async function healthDuring<T>(base: string, during: () => Promise<T>): Promise<{ result: T; slowestMs: number; polls: number }> {
  let stop = false;
  let slowestMs = 0;
  let polls = 0;
  const poller = (async () => {
    while (!stop) {
      const t0 = performance.now();
      const r = await fetch(`${base}/healthz`);
      await r.text();
      expect(r.status).toBe(200);
      slowestMs = Math.max(slowestMs, performance.now() - t0);
      polls++;
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  try {
    const result = await during();
    return { result, slowestMs, polls };
  } finally {
    stop = true;
    await poller;
  }
}

/**
 * POSTs a body of `mb` MiB of JSON, streamed in 1 MiB chunks (the test never holds it
 * whole), and resolves with the status once the answer arrived and, with `all`, the whole
 * body was sent (or the server closed the connection); otherwise as soon as the answer arrives.
 */
function postHuge(
  url: string,
  mb: number,
  headers: Record<string, string> = {},
  all = false,
): Promise<{ status: number; body: string; ms: number; sentMb: number }> {
  const chunk = Buffer.alloc(1024 * 1024, 'a');
  const head = Buffer.from('{"bundle":{"x":"');
  const tail = Buffer.from('"}}');
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(head.length + mb * chunk.length + tail.length), ...headers } },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => {
          ms = performance.now() - t0;
          got = { status: res.statusCode!, body };
          settle();
        });
      },
    );
    let got: { status: number; body: string } | null = null;
    let ms = 0;
    let sent = false;
    const settle = () => {
      if (got && (sent || !all)) resolve({ ...got, ms, sentMb: i - 1 });
    };
    // The server answers before the body is sent and may close the socket: that is the point.
    req.on('error', (e) => {
      sent = true;
      if (answered) settle();
      else reject(e);
    });
    req.on('close', () => {
      sent = true;
      settle();
    });
    let answered = false;
    req.on('response', () => (answered = true));
    let i = 0;
    const pump = () => {
      if (answered && !all) {
        req.destroy();
        return;
      }
      if (i === 0 && !req.write(head)) {
        i++;
        req.once('drain', pump);
        return;
      }
      if (i === 0) i++;
      while (i <= mb) {
        i++;
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end(tail);
    };
    pump();
  });
}

describe('credentials before the body', () => {
  let base: string;
  beforeAll(async () => {
    // Failed authentications are not capped here (the key-guessing test below caps them):
    // this is about what an unauthenticated body costs.
    ({ base } = await start({ authFailureLimit: 1_000_000 }));
  });

  it('61 MB of JSON to POST /v1/verify without credentials: 401, the body is never read into memory, /healthz stays fast', async () => {
    const heap0 = process.memoryUsage().heapUsed;
    const rss0 = process.memoryUsage().rss;
    // The client would send all 61 MB; the server answers at once and closes the connection.
    // Forty rounds of two at once, while /healthz is polled.
    const { result, slowestMs, polls } = await healthDuring(base, async () => {
      let last!: Awaited<ReturnType<typeof postHuge>>;
      for (let round = 0; round < 40; round++) {
        const rs = await Promise.all([0, 1].map(() => postHuge(`${base}/v1/verify`, 61, {}, true)));
        for (const r of rs) expect(r.status).toBe(401);
        last = rs[0];
      }
      return last;
    });
    const heapMb = (process.memoryUsage().heapUsed - heap0) / 2 ** 20;
    const rssMb = (process.memoryUsage().rss - rss0) / 2 ** 20;
    console.log(
      `80 x 61 MB unauthenticated: ${result.status} in ${result.ms.toFixed(0)} ms (${result.sentMb} MB sent before the server closed); heap +${heapMb.toFixed(1)} MB, rss +${rssMb.toFixed(1)} MB; /healthz slowest ${slowestMs.toFixed(1)} ms over ${polls} polls`,
    );
    expect(result.status).toBe(401);
    expect(JSON.parse(result.body)).toMatchObject({ code: 'UNAUTHENTICATED', field: 'authorization' });
    expect(result.ms).toBeLessThan(2000);
    // Parsing it would hold the 61 MB text and more.
    expect(heapMb).toBeLessThan(20);
    // A guard against blocking (parsing it took 1.1 s of event loop per request), not a
    // timing target: the client shares this process and 2 cores; timings live in the bench.
    expect(slowestMs).toBeLessThan(500);
  });

  it('the same 61 MB with a key: 413 at the verify body limit, quickly', async () => {
    const r = await postHuge(`${base}/v1/verify`, 61, { authorization: `Bearer ${VERIFIER}` });
    expect(r.status).toBe(413);
    expect(r.ms).toBeLessThan(3000);
  });

  it('an unknown route without credentials is a 401 too (nothing is parsed for strangers)', async () => {
    const r = await fetch(`${base}/v1/nothing-here`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(r.status).toBe(401);
  });

  it('a body nested 100,000 deep is a 400, before parsing, on every JSON route', async () => {
    const deep = `{"input":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    const proof = await fetch(`${base}/v1/models/${'a'.repeat(64)}/proofs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: deep,
    });
    expect(proof.status).toBe(400);
    expect(await proof.json()).toMatchObject({ code: 'JSON_TOO_DEEP', field: 'body' });
    const bundle = `{"bundle":{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}}`;
    const verify = await fetch(`${base}/v1/verify`, {
      method: 'POST',
      headers: { authorization: `Bearer ${VERIFIER}`, 'content-type': 'application/json' },
      body: bundle,
    });
    expect(verify.status).toBe(400);
    expect((await verify.json()).code).toBe('JSON_TOO_DEEP');
    // Brackets inside strings are text, not nesting.
    const text = await fetch(`${base}/v1/verify`, {
      method: 'POST',
      headers: { authorization: `Bearer ${VERIFIER}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        modelId: 'b'.repeat(64),
        proof: {
          pi_a: ['1', '2', '1'],
          pi_b: [
            ['1', '2'],
            ['3', '4'],
            ['1', '0'],
          ],
          pi_c: ['1', '2', '1'],
          protocol: 'groth16',
          curve: 'bn128',
        },
        publicSignals: ['1', '2', '['.repeat(70)],
      }),
    });
    expect(text.status).toBe(400);
    expect((await text.json()).field).toMatch(/^body\.publicSignals\.2/);
  });

  it('a public signal or proof coordinate of 79 digits is a 400 naming it', async () => {
    const proof = {
      pi_a: ['1', '2', '1'],
      pi_b: [
        ['1', '2'],
        ['3', '4'],
        ['1', '0'],
      ],
      pi_c: ['1', '2', '1'],
      protocol: 'groth16',
      curve: 'bn128',
    };
    const send = (body: unknown) =>
      fetch(`${base}/v1/verify`, {
        method: 'POST',
        headers: { authorization: `Bearer ${VERIFIER}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const sig = await send({ modelId: 'b'.repeat(64), proof, publicSignals: ['1', '2', '9'.repeat(79)] });
    expect(sig.status).toBe(400);
    expect((await sig.json()).field).toBe('body.publicSignals.2');
    const coord = await send({ modelId: 'b'.repeat(64), proof: { ...proof, pi_a: ['1', '9'.repeat(79), '1'] }, publicSignals: ['1', '2', '3'] });
    expect(coord.status).toBe(400);
    expect((await coord.json()).field).toBe('body.proof.pi_a.1');
    // 78 digits pass the schema (the model then is not registered: 404).
    expect((await send({ modelId: 'b'.repeat(64), proof, publicSignals: ['1', '2', '9'.repeat(78)] })).status).toBe(404);
  });
});

describe('a public signal of 16 million digits', () => {
  it('is a 413 at the default verify body limit, and a quick 400 from the schema when the limit lets it through', async () => {
    const { base: small } = await start();
    const { base: big } = await start({ verifyBodyLimit: 64 * 2 ** 20 });
    const proof = {
      pi_a: ['1', '2', '1'],
      pi_b: [
        ['1', '2'],
        ['3', '4'],
        ['1', '0'],
      ],
      pi_c: ['1', '2', '1'],
      protocol: 'groth16',
      curve: 'bn128',
    };
    const body = JSON.stringify({ modelId: 'b'.repeat(64), proof, publicSignals: ['1', '2', '7'.repeat(16_000_000)] });
    for (const [base, status] of [
      [small, 413],
      [big, 400],
    ] as const) {
      const t0 = performance.now();
      const r = await fetch(`${base}/v1/verify`, {
        method: 'POST',
        headers: { authorization: `Bearer ${VERIFIER}`, 'content-type': 'application/json' },
        body,
      });
      const ms = performance.now() - t0;
      const json = await r.json();
      console.log(`16M-digit public signal, verify body limit ${base === small ? 'default' : '64 MiB'}: ${r.status} in ${ms.toFixed(0)} ms`);
      expect(r.status).toBe(status);
      if (status === 400) expect(json.field).toBe('body.publicSignals.2');
      expect(ms).toBeLessThan(3000);
    }
  });
});

describe('rate limits', () => {
  it('one identity per key: the same key in x-api-key with a changing junk Authorization is limited', async () => {
    const { base } = await start({ rateLimit: 5 });
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await fetch(`${base}/v1/models`, { headers: { 'x-api-key': KEY, authorization: `Junk ${randomUUID()}` } });
      await r.text();
      statuses.push(r.status);
    }
    expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
    expect(statuses.slice(5)).toEqual([429, 429, 429]);
    // Another key has its own count.
    expect((await fetch(`${base}/v1/models`, { headers: { authorization: `Bearer ${VERIFIER}` } })).status).toBe(200);
  });

  it('key guessing: after AUTH_FAILURES_PER_MINUTE different wrong keys an address gets 429 for every key it has not used before', async () => {
    const { base } = await start({ authFailureLimit: 5, rateLimit: 1000 });
    const get = (key: string) => fetch(`${base}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
    // A client of this address works before anyone guesses.
    expect((await get(KEY)).status).toBe(200);
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await get(`guess-${randomUUID()}`);
      statuses.push(r.status);
      await r.text();
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    // The key already used from this address still works: one client guessing (or
    // misconfigured) does not lock its neighbours out.
    const known = await get(KEY);
    expect(known.status).toBe(200);
    // A valid key never used from here waits like a wrong one, with the same answer: a
    // locked address cannot tell a right guess from a wrong one.
    const blocked = await get(VERIFIER);
    expect(blocked.status).toBe(429);
    const blockedBody = await blocked.json();
    expect(blockedBody).toMatchObject({ code: 'AUTH_RATE_LIMITED' });
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    const wrong = await get(`guess-${randomUUID()}`);
    expect(wrong.status).toBe(429);
    // The same answer but for the seconds left.
    expect({ ...(await wrong.json()), message: '' }).toEqual({ ...blockedBody, message: '' });
    // Liveness is not behind the lock.
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });
});

describe('a stale key retried', () => {
  it('one wrong key presented again and again is not guessing: it stays 401 and locks out no other key', async () => {
    const { base } = await start({ authFailureLimit: 5, rateLimit: 1000 });
    const stale = `stale-${randomUUID()}`;
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) {
      const r = await fetch(`${base}/v1/models`, { headers: { authorization: `Bearer ${stale}` } });
      statuses.push(r.status);
      await r.text();
    }
    expect(statuses).toEqual(Array(25).fill(401));
    // A key never used from this address before works.
    expect((await fetch(`${base}/v1/models`, { headers: { authorization: `Bearer ${VERIFIER}` } })).status).toBe(200);
    // Requests with no key at all count once too.
    for (let i = 0; i < 10; i++) expect((await fetch(`${base}/v1/models`)).status).toBe(401);
    expect((await fetch(`${base}/v1/models`, { headers: { authorization: `Bearer ${KEY}` } })).status).toBe(200);
  });
});

describe('malformed list cursors', () => {
  it('a cursor this service did not hand out is a 400 naming querystring.cursor on both list routes, never a 500', async () => {
    const { base } = await start();
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const cursors = [
      'garbage',
      b64([1, 2]),
      b64(['x', 'y']),
      b64(['2026-01-01T00:00:00.000Z', 'not-a-uuid']),
      b64(['not a time', randomUUID()]),
      b64(['bank\u0000', 'a'.repeat(64)]),
      b64(['bank', "' OR 1=1 --"]),
      b64(['a', 'b', 'c']),
    ];
    for (const route of ['/v1/proofs', '/v1/models']) {
      for (const cursor of cursors) {
        const r = await fetch(`${base}${route}?cursor=${encodeURIComponent(cursor)}`, { headers: { authorization: `Bearer ${KEY}` } });
        const body = (await r.json()) as { code: string; field: string };
        expect([route, cursor, r.status]).toEqual([route, cursor, 400]);
        expect(body).toMatchObject({ code: 'VALIDATION', field: 'querystring.cursor' });
      }
    }
    // A well-formed cursor still pages.
    const ok = await fetch(`${base}/v1/proofs?cursor=${b64(['2026-01-01T00:00:00.000Z', randomUUID()])}`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(ok.status).toBe(200);
    const okModels = await fetch(`${base}/v1/models?cursor=${b64(['bank', 'a'.repeat(64)])}`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(okModels.status).toBe(200);
  });
});

describe('duplicate labels', () => {
  it('an upload naming one decision twice is a 400 SETTINGS naming labels', async () => {
    const { base } = await start();
    const form = new FormData();
    form.append('model', new Blob([await readFile(LOAN_MODEL)]), 'loan-model.onnx');
    form.append('labels', 'approve,approve');
    const r = await fetch(`${base}/v1/models`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` }, body: form });
    expect(r.status).toBe(400);
    const body = (await r.json()) as { code: string; field: string; message: string };
    expect(body).toMatchObject({ code: 'SETTINGS', field: 'labels' });
    expect(body.message).toMatch(/"approve" twice/);
    expect(((await (await fetch(`${base}/v1/models`, { headers: { authorization: `Bearer ${KEY}` } })).json()) as { items: unknown[] }).items).toEqual([]);
  });
});

describe('a hostile ONNX upload', () => {
  it('3 x ConstantOfShape([1e8]) in a 300-byte file: 422 naming the limit and the node, /healthz responsive meanwhile', async () => {
    const { base } = await start();
    const bytes = buildOnnx({
      inputs: [{ name: 'x', dims: [1, 4] }],
      output: { name: 'y', dims: [1, 4] },
      initializers: [{ name: 'shape', dims: [1], data: [1e8], type: 'int64' }],
      nodes: [
        { op: 'ConstantOfShape', inputs: ['shape'], outputs: ['c0'], name: 'cos0' },
        { op: 'ConstantOfShape', inputs: ['shape'], outputs: ['c1'], name: 'cos1' },
        { op: 'ConstantOfShape', inputs: ['shape'], outputs: ['c2'], name: 'cos2' },
        { op: 'Relu', inputs: ['x'], outputs: ['y'], name: 'relu' },
      ],
    });
    const upload = async () => {
      const form = new FormData();
      form.append('model', new Blob([Buffer.from(bytes)]), 'hostile.onnx');
      const t0 = performance.now();
      const r = await fetch(`${base}/v1/models`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` }, body: form });
      return { status: r.status, body: await r.json(), ms: performance.now() - t0 };
    };
    const { result, slowestMs, polls } = await healthDuring(base, upload);
    console.log(
      `hostile ONNX (${bytes.length} bytes): ${result.status} in ${result.ms.toFixed(0)} ms; /healthz slowest ${slowestMs.toFixed(1)} ms over ${polls} polls`,
    );
    expect(result.status).toBe(422);
    expect(result.body.code).toBe('MODEL_TOO_LARGE');
    expect(result.body.field).toBe('cos0');
    expect(result.body.message).toMatch(/maxTensorElements/);
    expect(result.body.message).toMatch(/ZKINFER_MAX_TENSOR_ELEMENTS/);
    // Import runs in a worker thread: the event loop is never held for long (a guard, not a timing target).
    expect(slowestMs).toBeLessThan(500);
  });

  it('files over the model byte limit: 413 naming maxModelBytes', async () => {
    const { base } = await start({ limits: { ...loadConfig({}).limits, maxModelBytes: 64 * 1024 } });
    const form = new FormData();
    form.append('model', new Blob([Buffer.alloc(40 * 1024)]), 'a.onnx');
    form.append('external', new Blob([Buffer.alloc(40 * 1024)]), 'a.bin');
    const r = await fetch(`${base}/v1/models`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` }, body: form });
    expect(r.status).toBe(413);
    const body = await r.json();
    expect(body.code).toBe('MODEL_TOO_LARGE');
    expect(body.message).toMatch(/maxModelBytes.*ZKINFER_MAX_MODEL_BYTES/);
    const one = new FormData();
    one.append('model', new Blob([Buffer.alloc(100 * 1024)]), 'b.onnx');
    expect((await fetch(`${base}/v1/models`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` }, body: one })).status).toBe(413);
  });

  it('bad labels and input ranges are 400s naming the field', async () => {
    const { base } = await start();
    const bytes = buildOnnx({
      inputs: [{ name: 'x', dims: [1, 4] }],
      output: { name: 'y', dims: [1, 4] },
      nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'], name: 'relu' }],
    });
    const send = async (fields: [string, string][]) => {
      const form = new FormData();
      form.append('model', new Blob([Buffer.from(bytes)]), 'relu.onnx');
      for (const [k, v] of fields) form.append(k, v);
      const r = await fetch(`${base}/v1/models`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` }, body: form });
      return { status: r.status, body: await r.json() };
    };
    expect(await send([['inputRange', 'x=3:1']])).toMatchObject({ status: 400, body: { field: 'inputRange' } });
    expect(await send([['inputRange', 'nope=0:1']])).toMatchObject({ status: 400, body: { code: 'SETTINGS', field: 'nope' } });
    expect(await send([['labels', 'deny,approve']])).toMatchObject({ status: 400, body: { code: 'SETTINGS', field: 'labels' } });
  });
});

describe('/metrics and /docs', () => {
  it('PUBLIC_DOCS=false: they need a key; HTTP durations are measured per route', async () => {
    const { base } = await start({ publicDocs: false });
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    expect((await fetch(`${base}/docs/json`)).status).toBe(401);
    await fetch(`${base}/v1/models`, { headers: { authorization: `Bearer ${KEY}` } });
    const m = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${VERIFIER}` } });
    expect(m.status).toBe(200);
    expect(await m.text()).toMatch(/http_request_duration_seconds_count\{method="GET",route="\/v1\/models",status="200"\} 1/);
    expect((await fetch(`${base}/docs/json`, { headers: { authorization: `Bearer ${VERIFIER}` } })).status).toBe(200);
  });

  it('ADMIN_PORT: served there, not on the API port', async () => {
    const { app, base } = await start({ adminPort: 0 });
    const admin = `http://127.0.0.1:${app.adminAddress!.port}`;
    expect((await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${KEY}` } })).status).toBe(404);
    expect((await fetch(`${base}/docs/json`, { headers: { authorization: `Bearer ${KEY}` } })).status).toBe(404);
    const m = await fetch(`${admin}/metrics`);
    expect(m.status).toBe(200);
    expect(await m.text()).toMatch(/zkinfer_queue_depth/);
    const spec = (await (await fetch(`${admin}/docs/json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(spec.paths)).toContain('/v1/verify');
  });
});
