// The stamp that ties the built CLI (dist/) to the sources it was built from: a sha256 over
// every file the build reads (src/, the JSON schemas it inlines, package.json), path and bytes
// in sorted order. bin/zkinfer.js runs dist/ only when its stamp equals the package's, so an
// edited source is never shadowed by an old build.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const INPUTS = ['src', 'schemas', 'package.json'];

/** sha256 over the build's inputs under the package root `root`, hex. */
export function sourceStamp(root) {
  const hash = createHash('sha256');
  const files = INPUTS.flatMap((input) => {
    const full = path.join(root, input);
    if (input.endsWith('.json')) return [input];
    return readdirSync(full, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) =>
        path
          .relative(root, path.join(e.parentPath ?? e.path, e.name))
          .split(path.sep)
          .join('/'),
      );
  }).sort();
  for (const f of files) {
    const bytes = readFileSync(path.join(root, f));
    hash.update(`${f}\0${bytes.length}\0`);
    hash.update(bytes);
  }
  return hash.digest('hex');
}
