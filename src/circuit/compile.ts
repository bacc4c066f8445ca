import { execFile } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ZkinferError } from '../core/errors.ts';
import { artifactDir } from '../core/artifacts.ts';
import { haveDir, publishDir } from '../core/artifact-store.ts';
import { sha256Hex } from '../core/hash.ts';
import { readR1csHeader } from './r1cs.ts';
import { PACKAGE_ROOT } from '../core/package-root.ts';

const require = createRequire(import.meta.url);

/** The folder holding the circuit templates (`circuits/` at the package root). */
export const TEMPLATE_DIR = path.join(PACKAGE_ROOT, 'circuits');

export const CIRCOM_VERSION: string = require('circom2/package.json').version;

export interface CompiledCircuit {
  /** Content hash of the main source, the included templates and the compiler version. */
  hash: string;
  dir: string;
  r1cs: string;
  wasm: string;
  sym: string;
  /** Non-linear constraints reported by the r1cs header. */
  constraints: number;
  nPubOut: number;
  nPubIn: number;
  nPrvIn: number;
  /** Milliseconds spent compiling (0 on a cache hit). */
  compileMs: number;
  cached: boolean;
}

const CIRCOMLIB_FILES = ['poseidon.circom', 'poseidon_constants.circom'];

/**
 * Templates only some circuits include: hashed only into the circuits that include them, so
 * adding one leaves every other circuit's hash (and so its model commitment) as it was.
 */
const OPTIONAL_FILES = ['private.circom'];

/** Every file a generated circuit may include: our templates and the circomlib ones we use. */
async function librarySources(mainSource: string): Promise<[string, string][]> {
  const ours = (await readdir(TEMPLATE_DIR))
    .filter((f) => f.endsWith('.circom') && (!OPTIONAL_FILES.includes(f) || mainSource.includes(`include "${f}";`)))
    .sort();
  const circomlib = path.join(path.dirname(require.resolve('circomlib/package.json')), 'circuits');
  return Promise.all([
    ...ours.map(async (f): Promise<[string, string]> => [f, await readFile(path.join(TEMPLATE_DIR, f), 'utf8')]),
    ...CIRCOMLIB_FILES.map(async (f): Promise<[string, string]> => [f, await readFile(path.join(circomlib, f), 'utf8')]),
  ]);
}

function runCircom(cwd: string, args: string[]): Promise<string> {
  const cli = require.resolve('circom2/cli.js');
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [cli, ...args], { cwd, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new ZkinferError('CIRCUIT_COMPILE', `circom failed: ${(stderr || stdout || err.message).slice(-2000)}`));
      else resolve(stdout);
    });
  });
}

/**
 * sha256 of the compiler version, every template a circuit may include, and `mainSource`:
 * what fixes the r1cs and wasm. A model descriptor's circuit hash is this hash of the proof
 * circuit with its model-commitment constant set to 0.
 */
export async function circuitSourceHash(mainSource: string): Promise<string> {
  return sha256Hex('circom2', CIRCOM_VERSION, ...(await librarySources(mainSource)).flat(), mainSource);
}

/**
 * Compiles `main.circom` text with circom2 (WebAssembly, --O2) to r1cs, wasm and sym,
 * cached under `artifacts/circuits/<hash>`.
 */
export async function compileCircuit(mainSource: string): Promise<CompiledCircuit> {
  const library = await librarySources(mainSource);
  const hash = await circuitSourceHash(mainSource);
  const dir = artifactDir('circuit', hash);
  const files = {
    r1cs: path.join(dir, 'main.r1cs'),
    wasm: path.join(dir, 'main_js', 'main.wasm'),
    sym: path.join(dir, 'main.sym'),
  };
  let compileMs = 0;
  // A shared store: another node's compile is fetched into this node's folder first.
  const cached = await haveDir(dir, files.r1cs);
  if (!cached) {
    const t0 = performance.now();
    await publishDir(dir, async (tmp) => {
      // circom2 runs under WASI and only sees the working directory and its parents, so
      // the templates are copied next to the main file (they are part of the hash anyway).
      await writeFile(path.join(tmp, 'main.circom'), mainSource);
      for (const [name, text] of library) await writeFile(path.join(tmp, name), text);
      await runCircom(tmp, ['main.circom', '--r1cs', '--wasm', '--sym', '--O2', '-o', '.']);
      // circom's witness_calculator.js is CommonJS; say so, whatever the enclosing package is.
      await writeFile(path.join(tmp, 'package.json'), '{ "type": "commonjs" }\n');
    });
    compileMs = performance.now() - t0;
  }
  const h = await readR1csHeader(files.r1cs);
  return { hash, dir, ...files, constraints: h.nConstraints, nPubOut: h.nPubOut, nPubIn: h.nPubIn, nPrvIn: h.nPrvIn, compileMs, cached };
}
