import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  compileCircuit,
  firstViolated,
  generateCircuit,
  generateModelTemplate,
  generateProofCircuit,
  loadWitnessCalculator,
  readR1csConstraints,
  readSymbols,
} from '../../src/circuit/index.ts';
import { parameterCommitment } from '../../src/bundle/input-commitment.ts';
import type { ModelIR, TreeEnsembleLayer, TreeMode } from '../../src/model/ir.ts';
import {
  activationBits,
  DEFAULT_SETTINGS,
  estimateConstraints,
  type InputQuant,
  quantizeModel,
  type QuantSettings,
  runReference,
} from '../../src/quant/index.ts';
import { compileModel, inputQuantOf, proveModel, setupModel } from '../../src/pipeline/index.ts';
import { loadModel, parseInput } from '../../src/model/index.ts';
import { verifyBundle } from '../../src/verifier/index.ts';
import { expectMatches, witnessOutputs } from '../helpers/circuit.ts';
import { REPO } from '../helpers/paths.ts';
import { denseLayer, handIr, rng } from '../helpers/ir.ts';
import { everyModeTrees, treeLayer, type TreeSpec } from '../helpers/trees.ts';

/**
 * Tree ensembles of a private model: thresholds, leaf weights and base values are the
 * parameter witness. The estimate, the generator's plan and circom's count agree; the
 * witness is the integer reference (which is the public model's reference: the clamped
 * private thresholds decide as the public path's folded comparisons) on random inputs and
 * on every input at and beside a threshold; a changed parameter is refused.
 */
const BLINDING = 0xfeedbeefn;
const st: QuantSettings = { scaleBits: 8, bits: 24 };

/** On-grid values of feature f at scale 2^k and width `bits`: every threshold's neighbourhood and the ends of the range. */
function gridValues(layer: TreeEnsembleLayer, f: number, k: number, bits: number): number[] {
  const out = new Set<number>();
  const lim = 2 ** (bits - 1);
  for (const X of [-lim, -lim + 1, 0, lim - 2, lim - 1]) out.add(X);
  for (let i = 0; i < layer.feature.length; i++) {
    if (layer.feature[i] !== f) continue;
    const v = layer.threshold[i] * 2 ** k;
    for (const X of [Math.floor(v) - 1, Math.floor(v), Math.ceil(v), Math.ceil(v) + 1]) if (X >= -lim && X < lim) out.add(X);
  }
  return [...out].map((X) => X / 2 ** k);
}

/** Every `step`-th combination of the features' grid values, and `random` random inputs within the ranges. */
function inputs(layer: TreeEnsembleLayer, scales: number[], widths: number[], step: number, random: number, seed: number): number[][] {
  const lists = scales.map((k, f) => gridValues(layer, f, k, widths[f]));
  const all = lists.reduce<number[][]>((acc, l) => acc.flatMap((a) => l.map((v) => [...a, v])), [[]]);
  const out = all.filter((_, i) => i % step === 0);
  const r = rng(seed);
  for (let n = 0; n < random; n++) out.push(scales.map((k, f) => Math.round((r() * 2 - 1) * (2 ** (widths[f] - 1) - 1)) / 2 ** k));
  return out;
}

/** Thresholds at and beyond the ends of a 9-bit feature at scale 2^0, in every mode. */
function edgeTrees(): TreeSpec[] {
  const leaf = (v: number): TreeSpec => ({ leaf: [v] });
  const node = (mode: TreeMode, t: number, a: number, b: number): TreeSpec => ({ f: 0, mode, t, yes: leaf(a), no: leaf(b) });
  return [
    node('BRANCH_LEQ', 255, 1, -1),
    node('BRANCH_LEQ', -256, 0.5, -0.5),
    node('BRANCH_LT', -256, 0.25, 2),
    node('BRANCH_LT', 256, -2, 0.75),
    node('BRANCH_GTE', 255.5, 1.5, -1.5),
    node('BRANCH_GT', -257.25, 3, -3),
    node('BRANCH_GT', 254.5, -0.125, 0.375),
    node('BRANCH_EQ', 255, 2.5, 0),
    node('BRANCH_EQ', -256, -2.5, 0),
    node('BRANCH_EQ', 256, 7, 0),
    node('BRANCH_NEQ', 12.5, 0.625, -4),
    { f: 1, mode: 'BRANCH_LEQ', t: 0, yes: node('BRANCH_EQ', 3, 1, 2), no: { f: 1, mode: 'BRANCH_GT', t: 1e9, yes: leaf(5), no: leaf(-0.25) } },
    leaf(0.5),
  ];
}

interface Case {
  name: string;
  ir: ModelIR;
  iq?: InputQuant;
  /** The tree layer and its input's scales and widths (for the boundary inputs). */
  trees: TreeEnsembleLayer;
  scales: number[];
  widths: number[];
  step: number;
}

const everyMode = treeLayer('trees', 3, 2, everyModeTrees(3, 2), [0.25, -0.125]);
const perFeature: InputQuant = { scaleBits: [-2, 6, 8], bits: [9, 12, 11], lo: [-500, -30, -4], hi: [500, 30, 4] };
const edges = treeLayer('edges', 2, 1, edgeTrees(), [0.1]);
const afterDense = treeLayer('late', 3, 1, everyModeTrees(3, 1), [-0.5]);
const r0 = rng(11);

const CASES: Case[] = [
  {
    name: 'every mode, at the model scale, argmax',
    ir: handIr(3, [everyMode], 'argmax', 2),
    trees: everyMode,
    scales: [8, 8, 8],
    widths: [16, 16, 16],
    step: 23,
  },
  {
    name: 'every mode, a first layer on per-feature inputs (coarse, fine, narrow)',
    ir: handIr(3, [everyMode], 'argmax', 2),
    iq: perFeature,
    trees: everyMode,
    scales: perFeature.scaleBits,
    widths: perFeature.bits,
    step: 7,
  },
  {
    name: 'thresholds at and beyond the ends of a 9-bit feature, a lone leaf, a sigmoid head',
    ir: handIr(2, [edges], 'sigmoid', 1),
    iq: { scaleBits: [0, 0], bits: [9, 9], lo: [-256, -256], hi: [255, 255] },
    trees: edges,
    scales: [0, 0],
    widths: [9, 9],
    step: 1,
  },
  {
    name: 'a tree layer after a private dense layer (activations at full width)',
    ir: handIr(3, [denseLayer('fc', 3, 3, r0), afterDense], 'none', 1),
    // Inputs within [-2, 2] (the dense layer's outputs must fit the activations).
    trees: afterDense,
    scales: [8, 8, 8],
    widths: [10, 10, 10],
    step: 1,
  },
];

describe('private tree ensembles', () => {
  it.each(CASES)('$name: estimate = plan = r1cs; the witness is the integer reference, which is the public one', async (c) => {
    const q = quantizeModel(c.ir, st, c.iq, { private: true });
    const pub = quantizeModel(c.ir, st, c.iq);
    const gen = generateCircuit(q);
    const est = estimateConstraints(c.ir, st, c.iq, { private: true });
    expect(est.layers.map((l) => l.constraints)).toEqual(gen.plan.map((p) => p.constraints));
    expect(est.total).toBe(gen.constraints);
    const compiled = await compileCircuit(gen.source);
    expect(compiled.constraints).toBe(gen.constraints);
    const pubGen = generateCircuit(pub);
    console.info(
      `${c.name}: public ${pubGen.constraints} constraints, private ${gen.constraints} (${gen.plan.map((p) => `${p.name} ${p.constraints}`).join(', ')})`,
    );
    // No threshold or leaf weight of the tree layer is a constant of the private circuit.
    const tl = q.layers.find((l) => l.kind === 'tree_ensemble')!;
    if (tl.kind !== 'tree_ensemble') throw new Error('no tree layer');
    expect(tl.plan).toBeUndefined();
    expect(gen.source).not.toMatch(/TreeBuckets|IND_/);
    const calc = await loadWitnessCalculator(compiled.wasm);
    const constraints = await readR1csConstraints(compiled.r1cs);
    const xs = inputs(c.trees, c.scales, c.widths, c.step, 12, 5);
    expect(xs.length).toBeGreaterThan(20);
    let checked = 0;
    for (const x of xs) {
      const ref = runReference(q, x);
      expect(ref.output, `x = ${x}`).toEqual(runReference(pub, x).output);
      const w = await calc.witness({ x: ref.input, p: gen.params!, blinding: BLINDING });
      expectMatches(ref, witnessOutputs(w, q, gen.decisionSize));
      if (checked++ % 8 === 0) expect(firstViolated(constraints, w)).toBe(-1);
    }
  });

  it('refuses a changed threshold or leaf weight: in the witness a constraint breaks, and the proof circuit computes no witness', async () => {
    const c = CASES[1];
    const q = quantizeModel(c.ir, st, c.iq, { private: true });
    const params = generateCircuit(q).params!;
    const pc = await parameterCommitment(params, BLINDING);
    const proof = generateProofCircuit(q, 1n, { paramCommitment: pc });
    const compiled = await compileCircuit(proof.source);
    const calc = await loadWitnessCalculator(compiled.wasm);
    const constraints = await readR1csConstraints(compiled.r1cs);
    const sym = await readSymbols(compiled.sym);
    const ref = runReference(q, [3.25, -1.5, 0.5]);
    const input = { nonce: 3n, x: ref.input, salt: 9n, params, blinding: BLINDING };
    const w = await calc.witness(input);
    expect(firstViolated(constraints, w)).toBe(-1);
    // Parameter 0 packs the first comparisons' thresholds; the leaves' weights follow the thresholds, the base values end the list.
    const tl = q.layers[0];
    if (tl.kind !== 'tree_ensemble') throw new Error('no tree layer');
    const N = activationBits(st) + tl.shift;
    const leaves = tl.trueChild.filter((c) => c < 0).length;
    const firstLeaf = params.length - tl.outSize - Math.ceil((leaves * tl.outSize) / Math.floor(252 / N));
    const unpacked = (params[firstLeaf] & ((1n << BigInt(N)) - 1n)) - (1n << BigInt(N - 1));
    expect(unpacked).toBe(tl.leafWeights[tl.outSize * tl.trueChild.indexOf(-1)]);
    for (const k of [0, firstLeaf]) {
      const at = sym.get(`main.params[${k}]`)!;
      expect(at).toBeGreaterThan(0);
      const tampered = [...w];
      tampered[at] += 1n;
      expect(firstViolated(constraints, tampered), `parameter ${k}`).toBeGreaterThanOrEqual(0);
      const changed = [...params];
      changed[k] += 1n;
      await expect(calc.witness({ ...input, params: changed }), `parameter ${k}`).rejects.toThrow();
    }
  });
});

const FIXTURES = path.join(REPO, 'test', 'fixtures', 'models', 'trees');

describe('the tree fixtures (scikit-learn, XGBoost, LightGBM) private, in raw units', () => {
  it.each(['dt_binary', 'rf_zipmap', 'gb_credit', 'gb_3class', 'gb_limit', 'rf_limit', 'xgb_credit', 'xgb_100x6', 'lgbm_credit', 'lgbm_3class', 'lgbm_limit'])(
    '%s: the estimate is the plan; on every row the private reference is the public one',
    async (name) => {
      const { ir } = await loadModel(path.join(FIXTURES, `${name}.onnx`));
      const rows: number[][] = JSON.parse(readFileSync(path.join(FIXTURES, `${name}.inputs.json`), 'utf8')).rows;
      const iq = inputQuantOf(ir, DEFAULT_SETTINGS, { calibration: rows }) ?? undefined;
      const q = quantizeModel(ir, DEFAULT_SETTINGS, iq, { private: true });
      const pub = quantizeModel(ir, DEFAULT_SETTINGS, iq);
      const gen = generateModelTemplate(q);
      const est = estimateConstraints(ir, DEFAULT_SETTINGS, iq, { private: true });
      expect(est.layers.map((l) => l.constraints)).toEqual(gen.plan.map((p) => p.constraints));
      const pubTotal = estimateConstraints(ir, DEFAULT_SETTINGS, iq).total;
      console.info(`${name}: public ${pubTotal} constraints, private ${est.total} (${est.layers.map((l) => `${l.name} ${l.constraints}`).join(', ')})`);
      for (const row of rows) {
        const x = parseInput(row, ir);
        expect(runReference(q, x)).toEqual(runReference(pub, x));
      }
    },
  );
});

describe('what a private tree ensemble refuses', () => {
  it('a leaf weight wider than the accumulator (the public model takes it: the trees cancel), naming the layer', () => {
    const wide = treeLayer(
      'wide',
      1,
      1,
      [
        { f: 0, mode: 'BRANCH_LEQ', t: 0, yes: { leaf: [200] }, no: { leaf: [199] } },
        { f: 0, mode: 'BRANCH_LEQ', t: 0, yes: { leaf: [-200] }, no: { leaf: [-199] } },
      ],
      [0],
    );
    const ir = handIr(1, [wide], 'none', 1);
    expect(() => quantizeModel(ir, st)).not.toThrow();
    expect(() => quantizeModel(ir, st, undefined, { private: true })).toThrow(expect.objectContaining({ code: 'SETTINGS', field: 'wide' }));
  });
});

describe('a private random forest from scikit-learn (test/fixtures/models/trees/rf_zipmap.onnx), end to end', () => {
  it("compiles private, proves and verifies the public model's decisions; no leaf weight or threshold is in the circuit or the bundle", async () => {
    const dir = path.join(REPO, 'test', 'fixtures', 'models', 'trees');
    const file = path.join(dir, 'rf_zipmap.onnx');
    const rows: number[][] = JSON.parse(readFileSync(path.join(dir, 'rf_zipmap.inputs.json'), 'utf8')).rows;
    const m = await compileModel(file, { calibration: rows, fidelity: false, visibility: 'private', blinding: 123n });
    const pub = await compileModel(file, { calibration: rows, fidelity: false });
    expect(m.descriptor.parameters?.count).toBe(m.secret!.params.length);
    // The model circuit alone (per-feature widths of real data): circom's count is the plan's.
    const gen = generateCircuit(m.quantized);
    expect((await compileCircuit(gen.source)).constraints).toBe(gen.constraints);
    console.info(`rf_zipmap: public ${pub.compiled.constraints} constraints, private ${m.compiled.constraints}`);
    const setup = await setupModel(m);
    const seen = new Set<string>();
    for (const row of rows.slice(0, 4)) {
      const { bundle } = await proveModel(m, setup, row);
      const v = await verifyBundle(bundle);
      expect(v.valid).toBe(true);
      const ref = runReference(pub.quantized, parseInput(row, pub.ir));
      expect(v.outputs!.integers).toEqual(ref.output.map(String));
      expect(v.outputs!.decision!.map(String)).toEqual(ref.decision.map(String));
      for (const t of JSON.stringify(bundle).match(/-?\d+/g) ?? []) seen.add(t);
    }
    // The public circuit holds the leaf weights (the check can fail); the private circuit and the bundles do not.
    const tl = pub.quantized.layers.find((l) => l.kind === 'tree_ensemble')!;
    if (tl.kind !== 'tree_ensemble') throw new Error('no tree layer');
    const big = [...new Set(tl.leafWeights.filter((v) => v > 1000n || v < -1000n).map(String))];
    expect(big.length).toBeGreaterThan(10);
    const inPublic = new Set(pub.circuit.source.match(/-?\d+/g));
    expect(big.filter((v) => inPublic.has(v)).length).toBeGreaterThan(big.length / 2);
    const inPrivate = new Set(m.circuit.source.match(/-?\d+/g));
    expect(big.filter((v) => inPrivate.has(v) || seen.has(v))).toEqual([]);
  }, 600_000);
});
