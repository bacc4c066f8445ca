import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CLI, REPO } from './paths.ts';

const run = promisify(execFile);

/** Runs the real CLI in a child process; never throws for a non-zero exit. */
export async function cli(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [CLI, ...args], { cwd: REPO, env });
    return { code: 0, ...r };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}
