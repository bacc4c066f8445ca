// The page's words (#25, item 14): the served page says the API key is required when the
// service asks for one; the standalone file gives the audit commands inline (its reader
// may have no README).
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.ts';
import { type Config, loadConfig } from '../../src/service/config.ts';
import { cli } from '../helpers/cli.ts';

async function page(apiKeys: Config['apiKeys']): Promise<string> {
  const config: Config = { ...loadConfig({}), dbDir: 'memory://', queuePrefix: `test-${randomUUID()}`, apiKeys };
  const app = await buildApp({ config, background: false });
  try {
    const r = await app.inject({ method: 'GET', url: '/verify' });
    expect(r.statusCode).toBe(200);
    return r.body;
  } finally {
    await app.close();
  }
}

describe('the verification page', () => {
  it('GET /verify on a service with API keys calls the key required, never optional; without keys, not needed', async () => {
    const keyed = await page([{ key: 'page-verifier-key-0123456789', role: 'verifier', tenant: 'bank' }]);
    expect(keyed).toMatch(/<label for="api-key">API key \(required\)<\/label>/);
    expect(keyed).not.toMatch(/API key \(optional\)/);
    const open = await page([]);
    expect(open).toMatch(/<label for="api-key">API key \(not needed: this service runs without keys\)<\/label>/);
  });

  it('the standalone file tells how to audit the key itself, with the commands, and sends nobody to a README', async () => {
    const file = path.join(await mkdtemp(path.join(tmpdir(), 'zkinfer-page-')), 'verify.html');
    const r = await cli(['verify-page', '-o', file]);
    expect(r.code, r.stderr).toBe(0);
    const html = await readFile(file, 'utf8');
    expect(html).toContain('npx zkinfer audit --service <URL> --model-id <id> --api-key <verifier key>');
    expect(html).toContain('npx zkinfer audit model.onnx --descriptor model.json --vkey vkey.json --zkey circuit.zkey --ptau setup.ptau --r1cs main.r1cs');
    expect(html).not.toMatch(/README: /);
  }, 120_000);
});
