// zkinfer as a CI pipeline installs it: `npm pack` of this checkout, the tarball installed
// with a plain `npm install <tarball>` into an empty project (the npm registry for its
// dependencies), then the installed CLI run through npx on the example model.
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { LOAN_MODEL, REPO } from '../helpers/paths.ts';

const run = promisify(execFile);

// The child reads its own configuration, not the npm_config_* of whatever started vitest
// (`npm test` exports every config it read); the cache and registry carry over.
const keep = /^npm_config_(cache|registry)$/i;
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => (!/^npm_/i.test(k) || keep.test(k)) && !k.startsWith('ZKINFER_')));

describe('the published package', () => {
  it('npm pack, npm install <tarball> in an empty project, then npx zkinfer --version and compile the example model', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-npm-pack-'));
    try {
      const pkg = JSON.parse(await readFile(path.join(REPO, 'package.json'), 'utf8')) as {
        name: string;
        version: string;
        private?: boolean;
        allowScripts: Record<string, boolean>;
      };
      expect(pkg.private).toBeUndefined();
      const packed = await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: REPO, env, maxBuffer: 1 << 26, timeout: 120_000 });
      const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
      const files = info.files.map((f) => f.path);
      // What the CLI reads at run time, and none of the repository's own tooling.
      for (const f of [
        'bin/zkinfer.js',
        'bin/source-stamp.js',
        'dist/cli/main.js',
        'dist/cli/stamp.json',
        'src/cli/main.ts',
        'src/pipeline/load-worker.mjs',
        'circuits/zkinfer.circom',
        'circuits/private.circom',
      ]) {
        expect(files).toContain(f);
      }
      for (const f of ['ptau/dev-13.ptau', 'schemas/proof-bundle.schema.json', 'migrations/001_records.sql', 'src/web/page.css']) expect(files).toContain(f);
      expect(files.filter((f) => /^(test|bench|scripts|examples|artifacts|node_modules)\//.test(f))).toEqual([]);

      // The consumer: an empty project that allows the same install scripts as this one
      // (onnxruntime-node's would download CUDA binaries the CLI does not use).
      const project = path.join(dir, 'project');
      await run('mkdir', [project]);
      await writeFile(path.join(project, 'package.json'), JSON.stringify({ name: 'model-repo', private: true, allowScripts: pkg.allowScripts }, null, 2));
      const install = await run('npm', ['install', path.join(dir, info.filename), '--no-audit', '--no-fund', '--no-update-notifier'], {
        cwd: project,
        env,
        maxBuffer: 1 << 26,
        timeout: 840_000,
      });
      expect(`${install.stdout}\n${install.stderr}`).toMatch(/added \d+ packages/);
      const deps = (JSON.parse(await readFile(path.join(project, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies;
      expect(deps[pkg.name]).toMatch(/\.tgz$/);

      const version = await run('npx', ['zkinfer', '--version'], { cwd: project, env });
      expect(version.stdout).toBe(`${pkg.version}\n`);
      await copyFile(LOAN_MODEL, path.join(project, 'loan-model.onnx'));
      const compiled = await run('npx', ['zkinfer', 'compile', 'loan-model.onnx', '--json'], {
        cwd: project,
        env: { ...env, ZKINFER_ARTIFACTS: path.join(dir, 'artifacts') },
        maxBuffer: 1 << 26,
        timeout: 300_000,
      });
      const out = JSON.parse(compiled.stdout) as { modelId: string; constraints: number; layers: { kind: string }[] };
      expect(out.modelId).toMatch(/^[0-9a-f]{64}$/);
      expect(out.constraints).toBeGreaterThan(0);
      expect(out.layers[0].kind).toBe('input');
      // It ran the installed copy, not this checkout.
      expect(compiled.stderr).not.toContain(REPO);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 1_200_000);
});
