// Tree ensembles: the 100-tree depth-6 XGBoost model (compile, setup, warm prove) and the
// gradient-boosted credit models (scikit-learn, LightGBM) proved for their 20 applicants, in raw units, plus the
// constraint breakdown of every tree fixture. `npm run bench -- --only trees` runs this
// section alone and rewrites it in bench/RESULTS.md.
// The measurement runs in a child process with an empty artifact store:
//   node --import tsx bench/trees.ts measure
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadModel, parseInput, runOnnxRuntime } from '../src/model/index.ts';
import { compileModel, inputQuantOf, proveModel, setupModel } from '../src/pipeline/index.ts';
import { DEFAULT_SETTINGS, estimateConstraints, floatDecision, runReference } from '../src/quant/index.ts';
import { firstLayerInput } from '../src/fixed/input-quant.ts';
import { planTrees } from '../src/layers/tree-plan.ts';
import { verifyBundle } from '../src/verifier/index.ts';
import { REPO } from './models.ts';

const DIR = path.join(REPO, 'test', 'fixtures', 'models', 'trees');
const FIXTURES = [
  'dt_binary',
  'rf_zipmap',
  'dt_3class',
  'gb_credit',
  'gb_3class',
  'gb_limit',
  'rf_limit',
  'xgb_credit',
  'xgb_100x6',
  'lgbm_credit',
  'lgbm_3class',
  'lgbm_limit',
];
const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const read = async (name: string, kind: string) => JSON.parse(await readFile(path.join(DIR, `${name}.${kind}.json`), 'utf8'));

/** Structure and constraint breakdown of each fixture (from the estimate: no compile). */
async function breakdown() {
  const rows = [];
  for (const name of FIXTURES) {
    const { ir } = await loadModel(path.join(DIR, `${name}.onnx`));
    const calibration: number[][] = (await read(name, 'inputs')).rows;
    const iq = inputQuantOf(ir, DEFAULT_SETTINGS, { calibration });
    const layer = ir.layers[0];
    if (layer.kind !== 'tree_ensemble') throw new Error(`${name}: not a tree model`);
    // The feature scales and widths the tree layer compares at (an unsigned feature is one bit wider), as quantizeModel.
    const input = firstLayerInput(DEFAULT_SETTINGS, layer.inSize, iq);
    const plan = planTrees(layer, input.scales, input.widths);
    const est = estimateConstraints(ir, DEFAULT_SETTINGS, iq ?? undefined);
    const internal = layer.mode.filter((m) => m !== 255).length;
    rows.push({
      name,
      trees: layer.roots.length,
      nodes: layer.feature.length,
      internal,
      bits: plan.bitCount,
      comparisons: plan.comparisons,
      products: plan.products,
      layer: est.layers[1].constraints,
      model: est.total,
    });
  }
  return rows;
}

async function measureXgb() {
  const name = 'xgb_100x6';
  const file = path.join(DIR, `${name}.onnx`);
  const rows: number[][] = (await read(name, 'inputs')).rows;
  const labels: number[] = (await read(name, 'expected')).label;
  const t0 = performance.now();
  const m = await compileModel(file, { calibration: rows, fidelity: true });
  const compileS = (performance.now() - t0) / 1000;
  const s0 = performance.now();
  const setup = await setupModel(m);
  const setupS = (performance.now() - s0) / 1000;
  const c0 = performance.now();
  await proveModel(m, setup, rows[0]);
  const coldMs = performance.now() - c0;
  const warm: number[] = [];
  const ver: number[] = [];
  for (let i = 1; i <= 5; i++) {
    const r = await proveModel(m, setup, rows[i]);
    warm.push(r.timings.witnessMs + r.timings.proveMs);
    const v0 = performance.now();
    if (!(await verifyBundle(r.bundle)).valid) throw new Error('bench proof did not verify');
    ver.push(performance.now() - v0);
  }
  let flips = 0;
  for (const [r, row] of rows.entries()) if (Number(runReference(m.quantized, parseInput(row, m.ir)).decision[0]) !== labels[r]) flips++;
  return {
    constraints: m.compiled.constraints,
    modelConstraints: m.circuit.constraints,
    treeFormula: m.circuit.plan.find((p) => p.kind === 'tree_ensemble')!.formula,
    ptau: `2^${setup.provenance.ptau.power}`,
    compileS,
    setupS,
    coldMs,
    warmMs: median(warm),
    verifyMs: median(ver),
    maxAbsError: m.fidelity!.maxAbsError,
    fidelityFlips: m.fidelity!.decisionFlips,
    libraryFlips: flips,
    rows: rows.length,
  };
}

async function measureCredit(name: string) {
  const file = path.join(DIR, `${name}.onnx`);
  const rows: number[][] = (await read(name, 'inputs')).rows;
  const labels: number[] = (await read(name, 'expected')).label;
  const m = await compileModel(file, { calibration: rows, fidelity: false });
  const setup = await setupModel(m);
  await proveModel(m, setup, rows[0]);
  const times: number[] = [];
  let flips = 0;
  let onnxFlips = 0;
  let refused = 0;
  for (const [r, row] of rows.entries()) {
    try {
      const res = await proveModel(m, setup, row);
      times.push(res.timings.witnessMs + res.timings.proveMs);
      const v = await verifyBundle(res.bundle);
      if (!v.valid) throw new Error('proof did not verify');
      const d = v.outputs!.decision![0];
      if (d !== labels[r]) flips++;
      const f = floatDecision(m.ir.head, await runOnnxRuntime(file, parseInput(row, m.ir), m.ir));
      if (f![0] !== d) onnxFlips++;
    } catch (e) {
      if ((e as { code?: string }).code === 'INPUT_RANGE') refused++;
      else throw e;
    }
  }
  return {
    constraints: m.compiled.constraints,
    proved: times.length,
    refused,
    flips,
    onnxFlips,
    medianMs: median(times),
    totalS: times.reduce((a, b) => a + b, 0) / 1000,
    scales: m.quantized.inputQuant!.scaleBits,
    bits: m.quantized.inputQuant!.bits,
  };
}

if (process.argv[2] === 'measure') {
  const out = { breakdown: await breakdown(), xgb: await measureXgb(), credit: await measureCredit('gb_credit'), lgbm: await measureCredit('lgbm_credit') };
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(0);
}

const run = promisify(execFile);

/** The tree section of bench/RESULTS.md, measured in a child process on the artifact store `store`. */
export async function treesBench(store: string): Promise<string> {
  const env = { ...process.env, NODE_OPTIONS: '--max-old-space-size=8192', ZKINFER_ARTIFACTS: store };
  const r = await run(process.execPath, ['--import', 'tsx', path.join(REPO, 'bench', 'trees.ts'), 'measure'], { cwd: REPO, maxBuffer: 1 << 24, env });
  const o = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  const load = os.loadavg()[0];
  const x = o.xgb;
  const c = o.credit;
  const l = o.lgbm;
  return [
    '<!-- trees:start (bench/trees.ts; `npm run bench -- --only trees` rewrites this section) -->',
    '## Tree ensembles (ai.onnx.ml TreeEnsembleClassifier / TreeEnsembleRegressor)',
    '',
    `Inputs in raw units (income and debt in dollars), per-feature scale and width from the 20 fixture applicants (\`--calibration\`); default settings (scale 2^10, 32 bits). Load average ${load.toFixed(1)} on ${os.cpus().length} cores at the end of the run (other jobs share the machine: times are upper bounds).`,
    '',
    '| model | trees | nodes | internal | comparison bits | comparison constraints | path products | tree layer | model constraints |',
    '|---|---|---|---|---|---|---|---|---|',
    ...o.breakdown.map(
      (b: Record<string, number | string>) =>
        `| ${b.name} | ${b.trees} | ${b.nodes} | ${b.internal} | ${b.bits} | ${b.comparisons} | ${b.products} | ${b.layer} | ${b.model} |`,
    ),
    '',
    '"comparison bits" are the distinct (feature, integer threshold) pairs after quantization (shared by every node and tree testing them); "path products" one per internal node below a root whose test is not constant. The tree layer adds one rescale per output (activation bits + extra weight bits).',
    '',
    `**XGBoost, 100 trees of depth 6, 8 features** (\`xgb_100x6\`): ${x.constraints.toLocaleString('en-US')} constraints in all (model ${x.modelConstraints.toLocaleString('en-US')}: ${x.treeFormula}); fits the bundled development ptau (${x.ptau}), no larger file needed.`,
    '',
    '| compile s | setup s | prove cold ms | prove warm ms (median of 5) | verify ms | max abs err (probability) | flips vs onnxruntime | flips vs XGBoost |',
    '|---|---|---|---|---|---|---|---|',
    `| ${x.compileS.toFixed(1)} | ${x.setupS.toFixed(1)} | ${x.coldMs.toFixed(0)} | ${x.warmMs.toFixed(0)} | ${x.verifyMs.toFixed(1)} | ${x.maxAbsError.toExponential(2)} | ${x.fidelityFlips} / ${x.rows} | ${x.libraryFlips} / ${x.rows} |`,
    '',
    `**Gradient-boosted credit model in raw units** (\`gb_credit\`, scikit-learn GradientBoostingClassifier, 40 trees of depth 3, ${c.constraints.toLocaleString('en-US')} constraints; feature scales 2^[${c.scales.join(', ')}], widths [${c.bits.join(', ')}] bits): ${c.proved} of 20 realistic applicants proved and verified, ${c.refused} refused for range, decision flip rate ${c.flips}/20 against scikit-learn and ${c.onnxFlips}/20 against onnxruntime; warm prove ${c.medianMs.toFixed(0)} ms median, ${c.totalS.toFixed(1)} s for all 20.`,
    '',
    `**LightGBM credit model in raw units** (\`lgbm_credit\`, LGBMClassifier in onnxmltools' layout, 60 trees of up to 15 leaves on 8 features, ${l.constraints.toLocaleString('en-US')} constraints; feature scales 2^[${l.scales.join(', ')}], widths [${l.bits.join(', ')}] bits): ${l.proved} of 20 applicants proved and verified, ${l.refused} refused for range, decision flip rate ${l.flips}/20 against LightGBM and ${l.onnxFlips}/20 against onnxruntime; warm prove ${l.medianMs.toFixed(0)} ms median, ${l.totalS.toFixed(1)} s for all 20.`,
    '<!-- trees:end -->',
  ].join('\n');
}
