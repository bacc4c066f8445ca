// The versions of the tools a bundle records (`tools`), read from their packages (Node only).
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { PACKAGE_ROOT } from '../core/package-root.ts';

const require = createRequire(import.meta.url);

/** A dependency's root folder, found above its entry point (some packages do not export their package.json). */
export function packageDir(name: string): string | null {
  let dir = path.dirname(require.resolve(name));
  while (dir !== path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file) && (JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === name) return dir;
    dir = path.dirname(dir);
  }
  return null;
}

function packageVersion(name: string): string {
  const dir = packageDir(name);
  return dir ? ((JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown') : 'unknown';
}

let versions: Record<string, string> | undefined;

export function toolVersions(): Record<string, string> {
  versions ??= {
    zkinfer: (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version,
    snarkjs: packageVersion('snarkjs'),
    circom2: packageVersion('circom2'),
    circomlib: (require('circomlib/package.json') as { version: string }).version,
    node: process.versions.node,
  };
  return versions;
}
