// Builds the native Groth16 prover (groth16.cc) with the node-gyp bundled in npm, offline
// against the installed Node headers. It never fails the install: where the addon cannot
// build, it prints one line and zkinfer proves with snarkjs.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import process from 'node:process';
import console from 'node:console';

const here = import.meta.dirname;
const unavailable = (why) => {
  console.log(`zkinfer: the native prover is unavailable (${why}); snarkjs will be used`);
  process.exit(0);
};

if (process.env.ZKINFER_NATIVE === 'skip') process.exit(0);
if (!existsSync(path.join(here, 'groth16.cc')) || !existsSync(path.join(here, 'binding.gyp'))) unavailable('its sources are not here');

/** npm's own node-gyp: npm exports its path to lifecycle scripts; else look beside npm's CLI. */
function findNodeGyp() {
  const fromEnv = process.env.npm_config_node_gyp;
  if (fromEnv && existsSync(fromEnv)) return fromEnv;
  const candidates = [];
  if (process.env.npm_execpath) candidates.push(path.resolve(path.dirname(process.env.npm_execpath), '..'));
  candidates.push(path.resolve(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm'));
  for (const npmDir of candidates) {
    try {
      return createRequire(path.join(npmDir, 'package.json')).resolve('node-gyp/bin/node-gyp.js');
    } catch {
      // try the next place
    }
  }
  return undefined;
}

const gyp = findNodeGyp();
if (!gyp) unavailable('node-gyp was not found');
// Node's own headers (a distribution's /usr/include/node): no download of them.
const args = [gyp, 'rebuild', '--loglevel=silent'];
const prefix = path.resolve(path.dirname(process.execPath), '..');
if (!process.env.npm_config_nodedir && existsSync(path.join(prefix, 'include', 'node', 'common.gypi'))) args.push(`--nodedir=${prefix}`);
try {
  execFileSync(process.execPath, args, {
    cwd: here,
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 1 << 26,
    timeout: 600_000,
  });
} catch (e) {
  const err = `${e.stderr ?? ''}`.split('\n').find((l) => /error/i.test(l));
  unavailable(err ? `build failed: ${err.trim().slice(0, 200)}` : 'build failed');
}
if (!existsSync(path.join(here, 'build', 'Release', 'zkinfer_groth16.node'))) unavailable('the build produced no addon');
