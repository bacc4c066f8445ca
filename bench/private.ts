// Private models (parameters a private witness bound by a commitment) against the same
// models public: constraints, ptau, setup and warm prove, side by side in one run. The
// credit MLP (15-256-128-64-1 in raw units) and the 100-tree XGBoost model are compared by
// their exact constraint counts (the estimate, which the generator states and the tests
// check against circom) and proved only where they fit the limits. `npm run bench -- --only
// private` runs this section alone and rewrites it in bench/RESULTS.md.
//   node --import tsx bench/private.ts measure
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadModel } from '../src/model/index.ts';
import { compileLoaded, compileModel, type CompiledModel, inputQuantOf, proveModel, setupModel } from '../src/pipeline/index.ts';
import { DEFAULT_SETTINGS, estimateConstraints } from '../src/quant/index.ts';
import { verifyBundle } from '../src/verifier/index.ts';
import { REPO, syntheticModel } from './models.ts';

const LOAN = path.join(REPO, 'examples', 'loan', 'loan-model.onnx');
const XGB = path.join(REPO, 'test', 'fixtures', 'models', 'trees', 'xgb_100x6.onnx');
const BLINDING = 271828182845904523536028747135266249775n;
const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const power = (n: number) => Math.max(8, Math.ceil(Math.log2(n + 1)));

/** Compile (given), setup and 6 proofs of the loan applicants: the first cold, the median of the others warm. */
async function proveLoan(m: CompiledModel) {
  const applicants = (JSON.parse(await readFile(path.join(REPO, 'examples', 'loan', 'applicants.json'), 'utf8')) as { input_data: number[][] }).input_data;
  const s0 = performance.now();
  const setup = await setupModel(m);
  const setupS = (performance.now() - s0) / 1000;
  const warm: number[] = [];
  for (let i = 0; i < 6; i++) {
    const r = await proveModel(m, setup, applicants[i % applicants.length]);
    if (!(await verifyBundle(r.bundle)).valid) throw new Error('bench proof did not verify');
    if (i > 0) warm.push(r.timings.witnessMs + r.timings.proveMs);
  }
  return { constraints: m.compiled.constraints, ptau: `2^${setup.provenance.ptau.power}`, setupS, warmMs: median(warm) };
}

async function measure() {
  const t0 = performance.now();
  const pub = await compileModel(LOAN, { fidelity: false });
  const pubCompileS = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  const priv = await compileModel(LOAN, { fidelity: false, visibility: 'private', blinding: BLINDING });
  const privCompileS = (performance.now() - t1) / 1000;
  const loan = {
    public: { ...(await proveLoan(pub)), compileS: pubCompileS },
    private: {
      ...(await proveLoan(priv)),
      compileS: privCompileS,
      params: priv.secret!.params.length,
      values: priv.quantized.layers.reduce((a, l) => a + ('weights' in l && 'bias' in l ? l.weights.length + l.bias.length : 0), 0),
    },
  };

  // The credit MLP on 15 raw-unit features: each feature's range sets its scale and width.
  const mlp = syntheticModel([15, 256, 128, 64, 1], 'sigmoid');
  const lo = Array.from({ length: 15 }, (_, i) => (i % 3 === 0 ? 0 : -50 * (i + 1)));
  const hi = Array.from({ length: 15 }, (_, i) => (i % 3 === 0 ? 250_000 : 50 * (i + 1)));
  const rows = [lo, hi, lo.map((v, i) => (v + hi[i]) / 2)];
  const iq = inputQuantOf(mlp.ir, DEFAULT_SETTINGS, { calibration: rows });
  const mlpPub = estimateConstraints(mlp.ir, DEFAULT_SETTINGS, iq ?? undefined).total;
  const mlpPriv = estimateConstraints(mlp.ir, DEFAULT_SETTINGS, iq ?? undefined, { private: true });
  const mlpParams = 15 * 256 + 256 + 256 * 128 + 128 + 128 * 64 + 64 + 64 + 1;
  // Compiled public only as a check of the estimate (the private circuit is beyond the default limits).
  const mlpCompiled = await compileLoaded(mlp, { inputQuant: iq, fidelity: false, limits: { maxConstraints: 1 << 20 } });

  const xgb = await loadModel(XGB);
  const xrows: number[][] = JSON.parse(await readFile(XGB.replace(/\.onnx$/, '.inputs.json'), 'utf8')).rows;
  const xiq = inputQuantOf(xgb.ir, DEFAULT_SETTINGS, { calibration: xrows });
  const xgbPub = estimateConstraints(xgb.ir, DEFAULT_SETTINGS, xiq ?? undefined).total;
  let xgbPriv: number | string;
  try {
    xgbPriv = estimateConstraints(xgb.ir, DEFAULT_SETTINGS, xiq ?? undefined, { private: true }).total;
  } catch (e) {
    xgbPriv = `refused: ${(e as Error).message.slice(0, 120)}`;
  }
  return {
    loan,
    mlp: { public: mlpPub, compiled: mlpCompiled.circuit.constraints, private: mlpPriv.total, hashing: mlpPriv.layers.at(-1)!.constraints, params: mlpParams },
    xgb: { public: xgbPub, private: xgbPriv },
  };
}

if (process.argv[2] === 'measure') {
  process.stdout.write(JSON.stringify(await measure()) + '\n');
  process.exit(0);
}

const run = promisify(execFile);

/** The private-model section of bench/RESULTS.md, measured in a child process on the artifact store `store`. */
export async function privateBench(store: string): Promise<string> {
  const env = { ...process.env, NODE_OPTIONS: '--max-old-space-size=8192', ZKINFER_ARTIFACTS: store };
  const r = await run(process.execPath, ['--import', 'tsx', path.join(REPO, 'bench', 'private.ts'), 'measure'], { cwd: REPO, maxBuffer: 1 << 24, env });
  const o = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  const n = (v: number | string) => (typeof v === 'number' ? v.toLocaleString('en-US') : v);
  const ratio = (a: number | string, b: number) => (typeof a === 'number' ? `${(a / b).toFixed(2)}x` : '-');
  const { loan, mlp, xgb } = o;
  return [
    '<!-- private:start (bench/private.ts; `npm run bench -- --only private` rewrites this section) -->',
    '## Private models (parameters a private witness, bound by a Poseidon commitment with a blinding value)',
    '',
    `Load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores at the end of the run (times are upper bounds when the machine is shared).`,
    '',
    '| loan example (8-16-8-1) | constraints | ptau | compile s | setup s | prove warm ms (median of 5) |',
    '|---|---|---|---|---|---|',
    `| public | ${n(loan.public.constraints)} | ${loan.public.ptau} | ${loan.public.compileS.toFixed(1)} | ${loan.public.setupS.toFixed(1)} | ${loan.public.warmMs.toFixed(0)} |`,
    `| private (${loan.private.values} weights and biases in ${loan.private.params} committed words) | ${n(loan.private.constraints)} | ${loan.private.ptau} | ${loan.private.compileS.toFixed(1)} | ${loan.private.setupS.toFixed(1)} | ${loan.private.warmMs.toFixed(0)} |`,
    '',
    '| model (exact constraint counts) | public | private | private / public | ptau private |',
    '|---|---|---|---|---|',
    `| credit MLP 15-256-128-64-1, raw units (${n(mlp.params)} weights and biases; hashing ${n(mlp.hashing)}) | ${n(mlp.public)} | ${n(mlp.private)} | ${ratio(mlp.private, mlp.public)} | 2^${power(mlp.private)} |`,
    `| XGBoost 100 trees of depth 6 (xgb_100x6) | ${n(xgb.public)} | ${n(xgb.private)} | ${ratio(xgb.private, xgb.public)} | ${typeof xgb.private === 'number' ? `2^${power(xgb.private)}` : '-'} |`,
    '',
    `A private circuit pays one constraint per weight (a product of two signals instead of a constant times a signal), the range check of each weight and bias (its width in bits: the unpacking of the committed words it is packed in, floor(252 / width) to a word), and circomlib's Poseidon over the packed words (609 constraints per 15 words), chained from the blinding value. The public MLP circuit compiled to ${n(mlp.compiled)} model constraints (the estimate: ${n(mlp.public)}). A tree ensemble pays a comparison of a witness threshold (the digits of the difference) per node, where a public one shares and folds its constant thresholds.`,
    '<!-- private:end -->',
  ].join('\n');
}
