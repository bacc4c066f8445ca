import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.ts';
import { REPO } from '../helpers/paths.ts';

describe('zkinfer usage', () => {
  it('--version prints the package version and exits 0', async () => {
    const { version } = JSON.parse(await readFile(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = await cli([flag]);
      expect(r).toMatchObject({ code: 0, stdout: `${version}\n` });
    }
  });

  it('no command is a usage error: help on stderr, exit 2', async () => {
    const r = await cli([]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^Usage: zkinfer \[options\] \[command\]/);
    expect(r.stderr).toMatch(/\n {2}prove \[options\] <model> <input>/);
  });

  it('--help asked for prints help on stdout and exits 0', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: zkinfer/);
    expect(r.stderr).toBe('');
  });
});

describe('the command the README shows (#25, item 8)', () => {
  it('the README runs the CLI as `npx zkinfer` in every command block, never `npm run zkinfer --`', async () => {
    const readme = await readFile(path.join(REPO, 'README.md'), 'utf8');
    const blocks = [...readme.matchAll(/^```(?:sh|bash)\n([\s\S]*?)^```/gm)].map((m) => m[1]).join('\n');
    expect(blocks).not.toMatch(/npm run zkinfer/);
    expect(blocks).toMatch(/^npx zkinfer verify bundle\.json$/m);
  });

  it('`npx zkinfer verify --json` runs bin/zkinfer.js and prints JSON alone on stdout (no npm banner)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-npx-'));
    const junk = path.join(dir, 'junk.json');
    await writeFile(junk, '{"format": "zkinfer.proof-bundle"}');
    // --no: the package's own binary, never one fetched from a registry.
    const r = await promisify(execFile)('npx', ['--no', 'zkinfer', 'verify', junk, '--json'], { cwd: REPO }).catch(
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    expect((r as { code?: number }).code).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ valid: false, usable: false });
  }, 60_000);
});

describe('subcommand help (#25, item 14)', () => {
  it('release --help: one usage line per form, not "[options] [command] <model>"', async () => {
    const r = await cli(['release', '--help']);
    expect(r.code).toBe(0);
    const usage = r.stdout.split('\n\n')[0];
    expect(usage).toBe(
      'Usage: zkinfer release <model> --test-set <file> --sign-key <key> -o <dir> [options]\n       zkinfer release verify <dir> --pub-key <key> [options]',
    );
    expect(r.stdout).not.toMatch(/\[command\] <model>/);
  });

  it('ceremony chain --help describes its argument', async () => {
    const r = await cli(['ceremony', 'chain', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\nArguments:\n {2}zkey +the ceremony key \(\.zkey\) whose contribution list to print\n/);
  });
});
