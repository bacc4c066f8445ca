// `npm run build` (also run by `npm ci` and `npm pack` through `prepare`): bundles the CLI's
// TypeScript into dist/cli/main.js with esbuild (dependencies stay imports of node_modules),
// with a source map and the stamp of the sources it was built from. bin/zkinfer.js runs it
// when the stamp matches, which saves the CLI's start from transpiling ~200 files with tsx.
// Usage: node scripts/build.mjs [--outdir DIR] [--force] [--verbose]   (default: dist; without
// --force, a build whose stamp already matches the sources is kept)
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import process from 'node:process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { sourceStamp } from '../bin/source-stamp.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const at = process.argv.indexOf('--outdir');
const outdir = path.resolve(root, at > 0 ? process.argv[at + 1] : 'dist');
const started = Date.now();
const stamp = sourceStamp(root);
const stampFile = path.join(outdir, 'cli', 'stamp.json');
const current = existsSync(stampFile) && existsSync(path.join(outdir, 'cli', 'main.js')) && JSON.parse(readFileSync(stampFile, 'utf8')).sources === stamp;
// Already built from these sources: nothing to do (a CLI running from dist/ keeps its chunks).
if (current && !process.argv.includes('--force')) process.exit(0);
rmSync(path.join(outdir, 'cli'), { recursive: true, force: true });
// circomlibjs' package entry loads every hash and contract generator (and its own ethers 5);
// zkinfer uses its Poseidon alone: bundle that module, sharing the top-level ffjavascript
// (the verification page's script does the same).
const poseidonOnly = {
  name: 'zkinfer-poseidon-only',
  setup(b) {
    const circomlibjs = path.resolve(path.dirname(createRequire(import.meta.url).resolve('circomlibjs')), '..');
    b.onResolve({ filter: /^circomlibjs$/ }, () => ({ path: path.join(circomlibjs, 'src', 'poseidon_wasm.js') }));
    b.onResolve({ filter: /^ffjavascript$/ }, () => ({ path: 'ffjavascript', external: true }));
  },
};
await esbuild.build({
  entryPoints: { main: path.join(root, 'src', 'cli', 'main.ts') },
  outdir: path.join(outdir, 'cli'),
  chunkNames: 'chunks/[name]-[hash]',
  splitting: true,
  bundle: true,
  plugins: [poseidonOnly],
  packages: 'external',
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  logLevel: 'warning',
});
mkdirSync(path.join(outdir, 'cli'), { recursive: true });
writeFileSync(path.join(outdir, 'cli', 'stamp.json'), `${JSON.stringify({ sources: stamp }, null, 2)}\n`);
if (process.argv.includes('--verbose')) process.stdout.write(`built ${path.relative(root, outdir)}/cli/main.js in ${Date.now() - started} ms\n`);
