#!/usr/bin/env node
// The CLI's entry. `zkinfer --version` answers before anything is loaded. Otherwise it runs
// the built CLI (dist/cli/main.js, from `npm run build`, which `npm ci` and `npm pack` run)
// when it was built from exactly these sources, else the TypeScript through tsx's loader
// (a checkout without a build, or with edited sources). ZKINFER_FROM_SOURCE=1 forces tsx.
import { existsSync, readFileSync } from 'node:fs';
import process from 'node:process';
import { fileURLToPath, URL } from 'node:url';
import { sourceStamp } from './source-stamp.js';

const args = process.argv.slice(2);
const root = new URL('../', import.meta.url);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  process.stdout.write(`${JSON.parse(readFileSync(new URL('package.json', root), 'utf8')).version}\n`);
} else if (builtIsCurrent()) {
  process.setSourceMapsEnabled(true);
  await import(new URL('dist/cli/main.js', root).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}

function builtIsCurrent() {
  if (process.env.ZKINFER_FROM_SOURCE === '1') return false;
  const stampFile = new URL('dist/cli/stamp.json', root);
  if (!existsSync(stampFile) || !existsSync(new URL('dist/cli/main.js', root))) return false;
  try {
    return JSON.parse(readFileSync(stampFile, 'utf8')).sources === sourceStamp(fileURLToPath(root));
  } catch {
    return false;
  }
}
