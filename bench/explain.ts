// Proven reasons (k = 4) and fairness (one protected attribute) against the same models
// without them: constraints, ptau and warm prove, side by side in one run. The loan example
// and an sklearn logistic pipeline with one-hot columns are proved; the 15-feature credit
// MLP and the 100-tree XGBoost model are compared by their exact constraint counts (the
// estimate, which the generator states and test/explain checks against circom).
// `npm run bench -- --only explain` runs this section alone and rewrites it in bench/RESULTS.md.
//   node --import tsx bench/explain.ts measure
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadModel, parseInput } from '../src/model/index.ts';
import { compileModel, type CompiledModel, inputQuantOf, proveModel, setupModel } from '../src/pipeline/index.ts';
import { DEFAULT_SETTINGS, estimateConstraints, explainFeatures, type ExplainOptions, explainSettingsOf } from '../src/quant/index.ts';
import { verifyBundle } from '../src/verifier/index.ts';
import { REPO, syntheticModel } from './models.ts';
import { LOAN_BASELINE } from '../test/helpers/paths.ts';

const LOAN = path.join(REPO, 'examples', 'loan', 'loan-model.onnx');
const FIX = path.join(REPO, 'test', 'fixtures', 'models');
const LOGREG = path.join(FIX, 'sklearn', 'credit_categorical.onnx');
const XGB = path.join(FIX, 'trees', 'xgb_100x6.onnx');
const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Setup and 6 proofs: the first cold, the median of the other 5 warm. */
async function prove(m: CompiledModel, inputs: unknown[]) {
  const setup = await setupModel(m);
  const warm: number[] = [];
  for (let i = 0; i < 6; i++) {
    const r = await proveModel(m, setup, inputs[i % inputs.length]);
    if (!(await verifyBundle(r.bundle)).valid) throw new Error('bench proof did not verify');
    if (i > 0) warm.push(r.timings.witnessMs + r.timings.proveMs);
  }
  return { constraints: m.compiled.constraints, ptau: `2^${setup.provenance.ptau.power}`, warmMs: median(warm) };
}

/** Plain, with 4 reasons, with 4 reasons and one protected attribute: compiled and proved. */
async function proved(file: string, inputs: unknown[], opts: Parameters<typeof compileModel>[1], reasons: ExplainOptions, fairness: ExplainOptions) {
  const out: Record<string, Awaited<ReturnType<typeof prove>>> = {};
  for (const [name, explain] of [
    ['plain', undefined],
    ['reasons', reasons],
    ['both', { ...reasons, ...fairness }],
  ] as const) {
    out[name] = await prove(await compileModel(file, { ...opts, fidelity: false, ...(explain ? { explain } : {}) }), inputs);
  }
  return out;
}

/** The same three variants by exact constraint count only. */
function counted(
  ir: Parameters<typeof estimateConstraints>[0],
  iq: Parameters<typeof estimateConstraints>[2],
  rows: ArrayLike<number>[],
  protect: ExplainOptions,
) {
  const count = (o?: ExplainOptions) => estimateConstraints(ir, DEFAULT_SETTINGS, iq, { explain: explainSettingsOf(o, ir, rows) ?? undefined }).total;
  return { plain: count(), reasons: count({ reasons: 4 }), both: count({ reasons: 4, ...protect }) };
}

async function measure() {
  // The credit MLP on 15 raw-unit features: each feature's range sets its scale and width.
  const mlp = syntheticModel([15, 256, 128, 64, 1], 'sigmoid');
  const lo = Array.from({ length: 15 }, (_, i) => (i % 3 === 0 ? 0 : -50 * (i + 1)));
  const hi = Array.from({ length: 15 }, (_, i) => (i % 3 === 0 ? 250_000 : 50 * (i + 1)));
  const rows = [lo, hi, lo.map((v, i) => (v + hi[i]) / 2)];
  const iq = inputQuantOf(mlp.ir, DEFAULT_SETTINGS, { calibration: rows });
  const mlpCounts = counted(mlp.ir, iq ?? undefined, rows, { protected: [{ name: explainFeatures(mlp.ir.inputs)[1].name, values: [0, 50] }] });

  const xgb = await loadModel(XGB);
  const xrows: number[][] = JSON.parse(await readFile(XGB.replace(/\.onnx$/, '.inputs.json'), 'utf8')).rows;
  const xiq = inputQuantOf(xgb.ir, DEFAULT_SETTINGS, { calibration: xrows });
  const v = xrows.map((r) => r[0]).sort((a, b) => a - b);
  const xgbCounts = counted(xgb.ir, xiq ?? undefined, xrows, {
    protected: [{ name: explainFeatures(xgb.ir.inputs)[0].name, values: [v[0], v[v.length - 1]] }],
  });
  const loanIr = (await loadModel(LOAN)).ir;
  const applicants = (JSON.parse(await readFile(path.join(REPO, 'examples', 'loan', 'applicants.json'), 'utf8')) as { input_data: number[][] }).input_data;
  const loanBase = parseInput(LOAN_BASELINE, loanIr);
  const loan = await proved(LOAN, applicants, {}, { reasons: 4, baseline: loanBase }, { protected: [{ name: 'age', values: [25, 60] }] });

  const lrIr = (await loadModel(LOGREG)).ir;
  const lrRows: unknown[][] = JSON.parse(await readFile(LOGREG.replace(/\.onnx$/, '.inputs.json'), 'utf8')).rows;
  const calibration = lrRows.map((r) => parseInput(r, lrIr));
  const logreg = await proved(
    LOGREG,
    lrRows,
    { calibration, settings: { scaleBits: 12, bits: 32 } },
    { reasons: 4 },
    { protected: [{ name: 'home_ownership' }] },
  );

  return { loan, logreg, mlp: mlpCounts, xgb: xgbCounts };
}

if (process.argv[2] === 'measure') {
  process.stdout.write(JSON.stringify(await measure()) + '\n');
  process.exit(0);
}

const run = promisify(execFile);

/** The reasons-and-fairness section of bench/RESULTS.md, measured in a child process on the artifact store `store`. */
export async function explainBench(store: string): Promise<string> {
  const env = { ...process.env, NODE_OPTIONS: '--max-old-space-size=8192', ZKINFER_ARTIFACTS: store };
  const r = await run(process.execPath, ['--import', 'tsx', path.join(REPO, 'bench', 'explain.ts'), 'measure'], { cwd: REPO, maxBuffer: 1 << 24, env });
  const o = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  const n = (v: number) => v.toLocaleString('en-US');
  const pct = (a: number, b: number) => `${a >= b ? '+' : ''}${(((a - b) / b) * 100).toFixed(0)}%`;
  type P = { constraints: number; ptau: string; warmMs: number };
  const provedRow = (name: string, x: Record<string, P>) =>
    (['plain', 'reasons', 'both'] as const).map(
      (k) =>
        `| ${name}, ${k === 'plain' ? 'plain' : k === 'reasons' ? 'reasons (k = 4)' : 'reasons + 1 protected'} | ${n(x[k].constraints)} | ${pct(x[k].constraints, x.plain.constraints)} | ${x[k].ptau} | ${x[k].warmMs.toFixed(0)} | ${(x[k].warmMs / x.plain.warmMs).toFixed(2)}x |`,
    );
  const countRow = (name: string, x: { plain: number; reasons: number; both: number }) =>
    `| ${name} | ${n(x.plain)} | ${n(x.reasons)} (${pct(x.reasons, x.plain)}) | ${n(x.both)} (${pct(x.both, x.plain)}) |`;
  const { loan, logreg, mlp, xgb } = o;
  const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
  return [
    '<!-- explain:start (bench/explain.ts; `npm run bench -- --only explain` rewrites this section) -->',
    '## Proven reasons and fairness',
    '',
    `Load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores at the end of the run (times are upper bounds when the machine is shared).`,
    '',
    '| model, variant | constraints | vs plain | ptau | prove warm ms (median of 5) | vs plain |',
    '|---|---|---|---|---|---|',
    ...provedRow('loan example (8-16-8-1; protected: age = 25, 60)', loan),
    ...provedRow('sklearn logistic pipeline with one-hot columns (credit_categorical; protected: home_ownership, 3 categories)', logreg),
    '',
    '| model (exact constraint counts) | plain | reasons (k = 4) | reasons + 1 protected (2 values) |',
    '|---|---|---|---|',
    countRow('credit MLP 15-256-128-64-1, raw units', mlp),
    countRow('XGBoost 100 trees of depth 6 (xgb_100x6)', xgb),
    '',
    'Targets (issue: reasons and fairness):',
    `- loan example with reasons and one protected attribute, warm prove <= 2x plain: ${(loan.both.warmMs / loan.plain.warmMs).toFixed(2)}x, ${met(loan.both.warmMs <= 2 * loan.plain.warmMs)}.`,
    `- linear/logistic and trees, reasons <= +30% constraints: logistic ${pct(logreg.reasons.constraints, logreg.plain.constraints)} (${met(logreg.reasons.constraints <= 1.3 * logreg.plain.constraints)}), ` +
      `100 trees ${pct(xgb.reasons, xgb.plain)} (${met(xgb.reasons <= 1.3 * xgb.plain)}).`,
    '',
    "Every reason is an occlusion: the circuit evaluates the model once more per feature (that feature at the baseline) and once per protected test value, reusing the input's range checks, so each copy costs the model's own layers; the selection (TopK) costs 2kn + (k - 1)B + n(B + 1) for n features and B-bit key differences, each fairness value a decision comparison.",
    '<!-- explain:end -->',
  ].join('\n');
}
