// A BullMQ worker checks its metrics port before it takes any job, and binds HOST.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freshPostgres } from '../helpers/postgres.ts';
import { findRedis } from '../helpers/redis.ts';
import { REPO } from '../helpers/paths.ts';

const redis = await findRedis();
const postgres = await freshPostgres();
const why = !redis.url ? redis.why : !postgres.url ? postgres.why : null;
if (why) console.warn(`skipping the worker metrics port test: ${why}`);

describe.skipIf(why !== null)('worker metrics port', () => {
  afterAll(async () => {
    await postgres.stop();
    redis.stop();
  });

  it('a taken METRICS_PORT stops the worker at start (exit 2, saying why) before it takes a job', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    const port = (taken.address() as { port: number }).port;
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'src', 'queue', 'worker-main.ts')], {
        cwd: REPO,
        env: {
          ...process.env,
          REDIS_URL: redis.url!,
          DATABASE_URL: postgres.url!,
          HOST: '127.0.0.1',
          METRICS_PORT: String(port),
          ZKINFER_QUEUE_PREFIX: `test-${port}`,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      let stdout = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      // The worker's log (JSON lines) is on stdout.
      child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect(code).toBe(2);
      expect(stderr).toMatch(new RegExp(`METRICS_PORT ${port} on 127\\.0\\.0\\.1: EADDRINUSE; not starting`));
      expect(stderr + stdout).not.toMatch(/job\(s\) at a time/);
      expect(stdout).toMatch(/"msg":"zkinfer worker phase 1: /);
    } finally {
      taken.close();
    }
  });
});
