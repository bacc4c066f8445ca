// `npm run worker` logs as the API does (#25, item 14): JSON lines from pino with the API's
// fields, not plain text; and a backend it cannot reach at start is one line, not a stack trace.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/paths.ts';

describe('npm run worker logs', () => {
  it('logs its phase 1 as a JSON line (level, time, pid, hostname, msg), then stops on an unreachable database with one line, exit 1', async () => {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ZKINFER_') && k !== 'REDIS_URL' && k !== 'DATABASE_URL'));
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'src', 'queue', 'worker-main.ts')], {
      cwd: REPO,
      // Nothing listens there.
      env: { ...clean, REDIS_URL: 'redis://127.0.0.1:1', DATABASE_URL: 'postgres://zkinfer@127.0.0.1:1/none' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    clearTimeout(timer);
    expect(code, stderr).toBe(1);
    const lines = stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThan(0);
    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const e of entries) expect(Object.keys(e)).toEqual(expect.arrayContaining(['level', 'time', 'pid', 'hostname', 'msg']));
    expect(entries[0]).toMatchObject({
      level: 40,
      pid: child.pid,
      msg: expect.stringMatching(/^zkinfer worker phase 1: .*\(development, INSECURE, 2\^\d+\)$/),
    });
    expect(entries[0].phase1).toMatchObject({ kind: 'development', insecure: true });
    expect(stderr).toBe('zkinfer worker not starting: connect ECONNREFUSED 127.0.0.1:1\n');
  }, 90_000);
});
