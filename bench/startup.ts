// How long a CLI call takes from a cold process (issue targets: `--version` < 0.5 s,
// `verify bundle.json` < 1.5 s): the built CLI (dist/, what `npm ci` makes) beside the same
// sources run through tsx (ZKINFER_FROM_SOURCE=1, what every call paid before the build),
// in one run; median of 5 calls each. And /v1/verify's verdict cache: the same bundle
// verified again skips the pairing check.
// `npm run bench -- --only startup` runs this section alone and rewrites it in bench/RESULTS.md.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { VerifyProcesses } from '../src/api/verify-processes.ts';
import { compileModel, proveModel, setupModel } from '../src/pipeline/index.ts';
import { REPO } from './models.ts';

const run = promisify(execFile);
const LOAN = path.join(REPO, 'examples', 'loan', 'loan-model.onnx');
const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timed(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const t = performance.now();
  await run(process.execPath, [path.join(REPO, 'bin', 'zkinfer.js'), ...args], { cwd: REPO, env: { ...process.env, ...env } });
  return performance.now() - t;
}

async function medianOf(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < 5; i++) xs.push(await timed(args, env));
  return median(xs);
}

export async function startupBench(): Promise<string> {
  await run(process.execPath, [path.join(REPO, 'scripts', 'build.mjs')], { cwd: REPO });
  const m = await compileModel(LOAN, { samples: 4 });
  const setup = await setupModel(m);
  const { bundle } = await proveModel(m, setup, JSON.parse(await readFile(path.join(REPO, 'examples', 'loan', 'applicant.json'), 'utf8')));
  const dir = await mkdtemp(path.join(os.tmpdir(), 'zkinfer-startup-'));
  const file = path.join(dir, 'bundle.json');
  await writeFile(file, JSON.stringify(bundle));
  const rows: string[] = [];
  try {
    const cases: [string, string[], number | null][] = [
      ['`zkinfer --version`', ['--version'], 500],
      ['`zkinfer --help` (loads every command)', ['--help'], null],
      ['`zkinfer verify bundle.json` (loan example)', ['verify', file], 1500],
    ];
    for (const [label, args, target] of cases) {
      const built = await medianOf(args, {});
      const source = await medianOf(args, { ZKINFER_FROM_SOURCE: '1' });
      rows.push(
        `| ${label} | ${built.toFixed(0)} | ${source.toFixed(0)} | ${(source / built).toFixed(1)}x | ${target === null ? '-' : `< ${target} ${built < target ? '(met)' : '(NOT met)'}`} |`,
      );
    }
    const pool = new VerifyProcesses(1);
    try {
      // Distinct valid proofs of one applicant (fresh randomness and nonce): each verified
      // once as a new task, then again from the cache.
      const applicant = JSON.parse(await readFile(path.join(REPO, 'examples', 'loan', 'applicant.json'), 'utf8'));
      const bundles = [bundle];
      for (let i = 1; i < 5; i++) bundles.push((await proveModel(m, setup, applicant)).bundle);
      const task = (b: typeof bundle) => ({ kind: 'bundle' as const, bundle: b, vkey: b.verificationKey });
      const cold: number[] = [];
      const cached: number[] = [];
      for (const b of bundles) {
        let s = performance.now();
        const first = await pool.run(task(b));
        cold.push(performance.now() - s);
        if (!first.ok || !first.valid) throw new Error('a bench proof did not verify');
        s = performance.now();
        await pool.run(task(structuredClone(b)));
        cached.push(performance.now() - s);
      }
      rows.push(
        `| one verification task, new / seen before (verdict cache) | ${median(cached).toFixed(1)} | ${median(cold).toFixed(1)} | ` +
          `${(median(cold) / median(cached)).toFixed(0)}x | - |`,
      );
    } finally {
      await pool.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return [
    '<!-- startup:start -->',
    '## CLI start and repeated verification',
    '',
    `load average ${os.loadavg()[0].toFixed(1)} at the end of the section; median of 5 cold processes per cell (5 distinct proofs for the cache row; the first process start is not counted).`,
    '',
    '| call | built CLI ms (cache hit ms) | from source through tsx ms (new task ms) | ratio | target ms |',
    '|---|---|---|---|---|',
    ...rows,
    '<!-- startup:end -->',
  ].join('\n');
}
