import { execFile } from 'node:child_process';
import { copyFile, cp, mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/paths.ts';

const run = promisify(execFile);

describe('installing', () => {
  // A real `npm ci` of the committed package.json, package-lock.json (and .npmrc, if one
  // comes back) in a temporary directory, from the local npm cache where it can.
  it('npm ci prints no warnings', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-npm-ci-'));
    try {
      for (const f of ['package.json', 'package-lock.json', '.npmrc']) {
        if (existsSync(path.join(REPO, f))) await copyFile(path.join(REPO, f), path.join(dir, f));
      }
      // `npm ci` runs the package's `prepare` (the CLI's build): it needs the sources and the script.
      for (const f of ['src', 'schemas', 'bin', 'scripts/build.mjs']) await cp(path.join(REPO, f), path.join(dir, f), { recursive: true });
      // The child reads its own configuration, not the npm_config_* of whatever started
      // vitest (`npm test` exports every config it read); the cache and registry carry over.
      const keep = /^npm_config_(cache|registry)$/i;
      const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) || keep.test(k)));
      const r = await run('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund', '--no-update-notifier'], {
        cwd: dir,
        env,
        maxBuffer: 1 << 24,
        timeout: 110_000,
      });
      const transcript = `${r.stdout}\n${r.stderr}`;
      const warnings = transcript.split('\n').filter((l) => /^npm (warn|error)/i.test(l));
      expect(warnings, transcript).toEqual([]);
      expect(transcript).toMatch(/added \d+ packages/);
      expect(existsSync(path.join(dir, 'dist', 'cli', 'main.js')), 'npm ci built the CLI').toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);

  // package.json overrides cookie (light-my-request, under fastify.inject) and @fastify/static
  // (under @fastify/swagger-ui) to versions whose engines accept Node 20: both still work.
  it('the overridden cookie and @fastify/static work under fastify and swagger-ui', async () => {
    const app = Fastify();
    await app.register(swagger, { openapi: { info: { title: 't', version: '1' } } });
    await app.register(swaggerUi, { routePrefix: '/docs' });
    app.get('/echo-cookie', async (req) => ({ cookie: req.headers.cookie }));
    try {
      const c = await app.inject({ method: 'GET', url: '/echo-cookie', cookies: { session: 'a b', other: 'x' } });
      expect(c.json()).toEqual({ cookie: 'session=a%20b; other=x' });
      const page = await app.inject({ method: 'GET', url: '/docs/static/swagger-ui.css' });
      expect(page.statusCode).toBe(200);
      expect(page.headers['content-type']).toMatch(/text\/css/);
      expect(page.body).toMatch(/swagger-ui/);
      const missing = await app.inject({ method: 'GET', url: '/docs/static/..%2f..%2fpackage.json' });
      expect(missing.statusCode).toBeGreaterThanOrEqual(400);
    } finally {
      await app.close();
    }
  });
});
