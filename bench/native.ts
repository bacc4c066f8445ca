// The native Groth16 prover (native/groth16.cc) beside snarkjs: warm proofs of the same
// witness in one process, wall time and CPU time (snarkjs's worker threads included).
// `npm run bench -- --only native` runs this section alone and rewrites it in bench/RESULTS.md.
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as snarkjs from 'snarkjs';
import { loadWitnessCalculator } from '../src/circuit/index.ts';
import { parseInput } from '../src/model/index.ts';
import { compileLoaded, compileModel, type CompiledModel, setupModel } from '../src/pipeline/index.ts';
import { NativeKey, nativeAddon } from '../src/prover/index.ts';
import { runReference } from '../src/quant/index.ts';
import { pixelRows, REPO, syntheticModel } from './models.ts';

const RUNS = 10;
const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

interface Case {
  name: string;
  compile: () => Promise<{ m: CompiledModel; input: unknown }>;
}

const CASES: Case[] = [
  {
    name: 'loan example',
    compile: async () => ({
      m: await compileModel(path.join(REPO, 'examples', 'loan', 'loan-model.onnx'), { fidelity: false }),
      input: JSON.parse(await readFile(path.join(REPO, 'examples', 'loan', 'applicant.json'), 'utf8')),
    }),
  },
  {
    name: 'mlp 784-128-10 calibrated',
    compile: async () => {
      const loaded = syntheticModel([784, 128, 10], 'softmax');
      const m = await compileLoaded(loaded, { calibration: pixelRows(784), fidelity: false });
      return { m, input: Array.from(pixelRows(784, 1, 5)[0]) };
    },
  },
];

/** Wall time (median) and CPU time (mean) of RUNS warm calls, after one to warm up. */
async function time(f: () => Promise<unknown>): Promise<{ wallMs: number; cpuMs: number }> {
  await f();
  const walls: number[] = [];
  const c0 = cpuMs();
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    await f();
    walls.push(performance.now() - t0);
  }
  return { wallMs: median(walls), cpuMs: (cpuMs() - c0) / RUNS };
}

async function measure(c: Case): Promise<string[]> {
  const { m, input } = await c.compile();
  const setup = await setupModel(m);
  const zkey = await readFile(setup.zkey);
  const ref = runReference(m.quantized, parseInput(input, m.ir));
  const calc = await loadWitnessCalculator(m.compiled.wasm);
  const wtns = await calc.wtns(m.publicInput ? { nonce: 1n, x: ref.input } : { nonce: 1n, x: ref.input, salt: 2n });
  const key = NativeKey.load(zkey);
  if (!(key instanceof NativeKey)) throw new Error(key.reason);
  // Both provers' proofs of this witness verify before anything is timed.
  for (const p of [await snarkjs.groth16.prove({ type: 'mem', data: zkey }, { type: 'mem', data: wtns }), await key.prove(wtns)])
    if (!(await snarkjs.groth16.verify(setup.vkey, p.publicSignals, p.proof))) throw new Error(`${c.name}: a bench proof does not verify`);
  const js = await time(() => snarkjs.groth16.prove({ type: 'mem', data: zkey }, { type: 'mem', data: wtns }));
  const one = await time(() => key.prove(wtns, 1));
  const two = await time(() => key.prove(wtns, 2));
  const f = (v: number) => v.toFixed(0);
  return [
    c.name,
    String(m.compiled.constraints),
    `2^${setup.provenance.ptau.power}`,
    `${f(js.wallMs)} / ${f(js.cpuMs)}`,
    `${f(one.wallMs)} / ${f(one.cpuMs)}`,
    `${f(two.wallMs)} / ${f(two.cpuMs)}`,
    (js.cpuMs / one.cpuMs).toFixed(1),
    f(60_000 / js.cpuMs),
    f(60_000 / one.cpuMs),
  ];
}

export async function nativeBench(): Promise<string> {
  const head = '## Native Groth16 prover vs snarkjs (warm, same witness; wall ms / CPU ms per proof)';
  const a = nativeAddon();
  if ('reason' in a) return [`<!-- native:start -->`, head, '', `Not measured: ${a.reason}.`, '<!-- native:end -->'].join('\n');
  const rows: string[][] = [];
  for (const c of CASES) {
    process.stderr.write(`native: ${c.name} ...\n`);
    try {
      rows.push(await measure(c));
    } catch (e) {
      rows.push([c.name, `error: ${(e as Error).message.slice(0, 160)}`, '', '', '', '', '', '', '']);
    }
  }
  const load = os.loadavg().map((v) => v.toFixed(2));
  return [
    '<!-- native:start -->',
    head,
    '',
    `${new Date().toISOString()}, ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, load average ${load.join(' ')} at the end`,
    '',
    '| model | constraints | ptau | snarkjs | native, 1 thread | native, 2 threads | CPU speedup | snarkjs proofs/min per core | native proofs/min per core |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.join(' | ')} |`),
    '',
    `Medians of ${RUNS} warm proofs (wall) and their mean CPU time, the process's whole CPU (snarkjs's worker threads included), ` +
      'Groth16 prove only: no witness, no verification. "proofs/min per core" is 60,000 / CPU ms: what one busy core proves in a minute. ' +
      'The Prover verifies every native proof with snarkjs before returning it (not timed here).',
    '<!-- native:end -->',
  ].join('\n');
}
