import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file) && (JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === 'zkinfer') return dir;
    if (path.dirname(dir) === dir) throw new Error(`zkinfer: no package.json of zkinfer above ${start}`);
  }
}

/**
 * The package's root folder (the one holding its package.json), found from wherever this
 * code runs: `src/` through tsx, or the CLI built into `dist/cli/main.js` (`npm run build`).
 * Files shipped beside the code (circuits/, migrations/, ptau/, src/web/) are found from here.
 */
export const PACKAGE_ROOT = findRoot(path.dirname(fileURLToPath(import.meta.url)));

/** A file under the package's `src/`: the entry of a child process or worker, run through tsx. */
export function sourceFile(...parts: string[]): string {
  return path.join(PACKAGE_ROOT, 'src', ...parts);
}
