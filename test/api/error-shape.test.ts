// One error shape (#25, item 11): Fastify's own request errors name their field, unknown
// routes and wrong methods answer {code, message, field} (405 with Allow), and the server
// stops at startup with one line, not a stack trace.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.ts';
import { type Config, loadConfig } from '../../src/service/config.ts';
import { REPO } from '../helpers/paths.ts';

const KEY = 'error-shape-verifier-key-0123456789';

describe('the one error shape', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    const config: Config = {
      ...loadConfig({}),
      dbDir: 'memory://',
      queuePrefix: `test-${randomUUID()}`,
      apiKeys: [{ key: KEY, role: 'verifier', tenant: 'bank' }],
    };
    app = await buildApp({ config, background: false });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
  });

  const call = async (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: string, contentType = 'application/json') => {
    const r = await app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${KEY}`, ...(payload === undefined ? {} : { 'content-type': contentType }) },
      ...(payload === undefined ? {} : { payload }),
    });
    return { status: r.statusCode, allow: r.headers.allow, body: r.json() };
  };

  it('invalid JSON, an empty JSON body and an unsupported media type name the field', async () => {
    expect(await call('POST', '/v1/verify', '{"bundle": ')).toMatchObject({ status: 400, body: { code: 'FST_ERR_CTP_INVALID_JSON_BODY', field: 'body' } });
    expect(await call('POST', '/v1/verify', '')).toMatchObject({ status: 400, body: { code: 'FST_ERR_CTP_EMPTY_JSON_BODY', field: 'body' } });
    const media = await call('POST', '/v1/verify', 'hello', 'text/plain');
    expect(media).toMatchObject({ status: 415, body: { code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', field: 'content-type' } });
    expect(Object.keys(media.body).sort()).toEqual(['code', 'field', 'message']);
  });

  it('an unknown route is a 404 in the same shape, not Fastify default body', async () => {
    const r = await call('GET', '/v1/nothing-here?x=1');
    expect(r).toEqual({ status: 404, allow: undefined, body: { code: 'NOT_FOUND', message: 'no route GET /v1/nothing-here', field: 'url' } });
  });

  it('a wrong method on an existing path is a 405 with an Allow header, also on a path with a parameter', async () => {
    const verify = await call('GET', '/v1/verify');
    expect(verify.status).toBe(405);
    expect(verify.allow).toBe('POST');
    expect(verify.body).toEqual({ code: 'METHOD_NOT_ALLOWED', message: 'GET is not allowed on /v1/verify: use POST', field: 'method' });
    const proof = await call('DELETE', `/v1/proofs/${'a'.repeat(32)}`);
    expect(proof.status).toBe(405);
    expect(proof.allow).toMatch(/\bGET\b/);
    expect(proof.body).toMatchObject({ code: 'METHOD_NOT_ALLOWED', field: 'method' });
    // The right method still reaches the route.
    expect((await call('GET', `/v1/proofs/${'a'.repeat(32)}`)).body).toMatchObject({ code: 'NOT_FOUND', field: 'id' });
  });
});

/** Starts `npm start`'s entry with these settings; resolves when it exits (or is killed after 60 s). */
function startServer(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ZKINFER_') && k !== 'REDIS_URL' && k !== 'DATABASE_URL'));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'src', 'api', 'server.ts')], {
      cwd: REPO,
      env: { ...clean, HOST: '127.0.0.1', ZKINFER_DB_DIR: 'memory://', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('npm start: a startup error is one line', () => {
  it('a database that cannot be reached: exit 1, its message, no stack trace', async () => {
    const r = await startServer({ PORT: '0', DATABASE_URL: 'postgres://zkinfer@127.0.0.1:1/none' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^zkinfer not starting: connect ECONNREFUSED 127\.0\.0\.1:1$/m);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  }, 90_000);

  it('a port already taken: exit 1, EADDRINUSE, no stack trace', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    try {
      const r = await startServer({ PORT: String((taken.address() as { port: number }).port) });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^zkinfer not starting: listen EADDRINUSE: address already in use 127\.0\.0\.1:\d+$/m);
      expect(r.stderr).not.toMatch(/^\s+at /m);
    } finally {
      taken.close();
    }
  }, 90_000);
});
