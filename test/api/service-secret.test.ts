// The service secret that keys the idempotency fingerprints (#20, item 7): made once, 0600
// in a 0700 folder, and the same for every process that shares the artifact store, even
// when several start at once (as API processes of one PostgreSQL deployment do).
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { serviceSecret } from '../../src/store/service-secret.ts';
import { REPO } from '../helpers/paths.ts';

const run = promisify(execFile);

describe('serviceSecret', () => {
  it('four processes starting at once on a fresh store read one secret, 0600 in a 0700 folder', async () => {
    const dir = path.join(await mkdtemp(path.join(tmpdir(), 'zkinfer-secret-')), 'secrets');
    const mod = pathToFileURL(path.join(REPO, 'src', 'store', 'service-secret.ts')).href;
    const code = `const { serviceSecret } = await import(${JSON.stringify(mod)}); process.stdout.write((await serviceSecret('idempotency', ${JSON.stringify(dir)})).toString('hex'));`;
    const outs = await Promise.all(
      Array.from({ length: 4 }, () => run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: REPO })),
    );
    const secrets = outs.map((o) => o.stdout);
    expect(secrets[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(new Set(secrets).size).toBe(1);
    expect((await serviceSecret('idempotency', dir)).toString('hex')).toBe(secrets[0]);
    expect((await stat(path.join(dir, 'idempotency.key'))).mode & 0o777).toBe(0o600);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
  }, 60_000);

  it('tightens a secret file others could read; refuses one of the wrong size', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-secret-'));
    const s = await serviceSecret('idempotency', dir);
    await chmod(path.join(dir, 'idempotency.key'), 0o644);
    expect(await serviceSecret('idempotency', dir)).toEqual(s);
    expect((await stat(path.join(dir, 'idempotency.key'))).mode & 0o777).toBe(0o600);
    await writeFile(path.join(dir, 'idempotency.key'), 'short');
    await expect(serviceSecret('idempotency', dir)).rejects.toThrow(/not 32 bytes/);
  });
});
