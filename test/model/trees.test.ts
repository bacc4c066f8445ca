import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyHead, buildOnnx, type GraphSpec, loadModel, type NodeSpec, parseInput, runOnnxRuntime } from '../../src/model/index.ts';
import { evalFloat } from '../../src/quant/float-eval.ts';
import { onnx } from '../../src/model/onnx/file.ts';
import { generateModelTemplate } from '../../src/circuit/index.ts';
import { compileLoaded, compileModel, inputQuantOf, proveModel, setupModel } from '../../src/pipeline/index.ts';
import { DEFAULT_SETTINGS, estimateConstraints, fidelityReport, quantizeModel, runReference } from '../../src/quant/index.ts';
import { verifyBundle } from '../../src/verifier/index.ts';
import { REPO } from '../helpers/paths.ts';

/**
 * Tree ensembles (ai.onnx.ml TreeEnsembleClassifier / TreeEnsembleRegressor) from
 * test/fixtures/models/trees, written by scripts/make-tree-fixtures.py from scikit-learn,
 * XGBoost and LightGBM models on a credit data set in raw units, with 20 applicants and the
 * libraries' own predictions. onnxruntime-node agrees with the libraries (which checks
 * the converter), the lowering agrees with onnxruntime-node, and the integer model
 * compiled with per-feature input quantization from the applicants makes the libraries'
 * decisions on every row.
 */
const DIR = path.join(REPO, 'test', 'fixtures', 'models', 'trees');

interface Case {
  name: string;
  head: 'sigmoid' | 'softmax' | 'argmax' | 'none';
  labels?: string[];
  /** Max abs error of the quantized output (probabilities, or the regressor's value) against onnxruntime. */
  tolerance: number;
}

const CASES: Case[] = [
  { name: 'dt_binary', head: 'argmax', labels: ['0', '1'], tolerance: 0.002 },
  { name: 'rf_zipmap', head: 'argmax', labels: ['approve', 'decline'], tolerance: 0.002 },
  { name: 'dt_3class', head: 'argmax', labels: ['0', '1', '2'], tolerance: 0.002 },
  { name: 'gb_credit', head: 'sigmoid', labels: ['0', '1'], tolerance: 0.002 },
  { name: 'gb_3class', head: 'softmax', labels: ['0', '1', '2'], tolerance: 0.002 },
  // A credit limit in thousands of dollars.
  { name: 'gb_limit', head: 'none', tolerance: 0.005 },
  { name: 'rf_limit', head: 'none', tolerance: 0.005 },
  { name: 'xgb_credit', head: 'sigmoid', labels: ['0', '1'], tolerance: 0.002 },
  // The benchmark model (compiled and proved in bench/trees.ts).
  { name: 'xgb_100x6', head: 'sigmoid', labels: ['0', '1'], tolerance: 0.002 },
  // LightGBM in onnxmltools' layout: the label cast to int64, the probabilities through ZipMap.
  { name: 'lgbm_credit', head: 'sigmoid', labels: ['0', '1'], tolerance: 0.002 },
  { name: 'lgbm_3class', head: 'softmax', labels: ['0', '1', '2'], tolerance: 0.002 },
  { name: 'lgbm_limit', head: 'none', tolerance: 0.005 },
];

const read = (name: string, kind: string) => JSON.parse(readFileSync(path.join(DIR, `${name}.${kind}.json`), 'utf8'));
const file = (name: string) => path.join(DIR, `${name}.onnx`);

/** The rows, the library's output (in the IR's head space) and its label per row. */
function fixture(name: string, ir: Awaited<ReturnType<typeof loadModel>>['ir']) {
  const rows: number[][] = read(name, 'inputs').rows;
  const exp: Record<string, unknown[]> = read(name, 'expected');
  const labelKey = Object.keys(exp).find((k) => k === 'label' || k === 'output_label');
  const outKey = Object.keys(exp).find((k) => k !== labelKey)!;
  const o = ir.onnxOutput;
  const want = (exp[outKey] as number[][]).map((e) =>
    o
      ? applyHead(
          o.apply,
          o.pick.map((i) => e[i]),
        )
      : e,
  );
  const labels = labelKey ? (exp[labelKey] as (string | number)[]).map(String) : null;
  return { rows, want, labels };
}

function decisionOf(head: Case['head'], logits: ArrayLike<number>): number {
  if (head === 'sigmoid') return logits[0] >= 0 ? 1 : 0;
  const z = Array.from(logits);
  return z.indexOf(Math.max(...z));
}

describe('tree ensembles (ai.onnx.ml)', () => {
  describe.each(CASES)('$name', (c) => {
    it('lowers exactly: onnxruntime-node agrees with the library, the float IR with onnxruntime-node, on every row', async () => {
      const { ir } = await loadModel(file(c.name));
      expect(ir.head).toBe(c.head);
      expect(ir.labels).toEqual(c.labels);
      expect(ir.layers.map((l) => l.kind)).toEqual(['tree_ensemble']);
      const { rows, want, labels } = fixture(c.name, ir);
      expect(rows).toHaveLength(20);
      for (const [r, row] of rows.entries()) {
        const x = parseInput(row, ir);
        const f = evalFloat(ir, x);
        const node = await runOnnxRuntime(file(c.name), x, ir);
        for (let i = 0; i < want[r].length; i++) {
          const tol = 1e-4 * Math.max(1, Math.abs(want[r][i]));
          expect(Math.abs(node[i] - want[r][i]), `row ${r} [${i}]: onnxruntime vs library`).toBeLessThanOrEqual(tol);
          expect(Math.abs(f.output[i] - node[i]), `row ${r} [${i}]: IR vs onnxruntime`).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(node[i])));
        }
        if (labels) expect(ir.labels![decisionOf(c.head, f.logits)], `row ${r}`).toBe(labels[r]);
      }
    });

    it("quantizes in raw units; the integer reference makes the library's decision on every row; the estimate is the generator's count", async () => {
      // No circom here: the generator's count is held equal to circom's in test/circuit, and two models are proved below.
      const { ir } = await loadModel(file(c.name));
      const { rows, want, labels } = fixture(c.name, ir);
      const iq = inputQuantOf(ir, DEFAULT_SETTINGS, { calibration: rows });
      // Raw units: the income is stored at a coarse scale, not refused.
      expect(iq!.scaleBits[0]).toBeLessThan(DEFAULT_SETTINGS.scaleBits);
      const q = quantizeModel(ir, DEFAULT_SETTINGS, iq ?? undefined);
      const gen = generateModelTemplate(q);
      const est = estimateConstraints(ir, DEFAULT_SETTINGS, iq ?? undefined);
      expect(est.layers.map((l) => l.constraints)).toEqual(gen.plan.map((p) => p.constraints));
      const fid = await fidelityReport(q, rows, (x) => runOnnxRuntime(file(c.name), Float64Array.from(x), ir));
      expect(fid.outOfRange).toBe(0);
      expect(fid.decisionFlips ?? 0).toBe(0);
      expect(fid.maxAbsError).toBeLessThanOrEqual(c.tolerance);
      let flips = 0;
      let maxErr = 0;
      for (const [r, row] of rows.entries()) {
        const ref = runReference(q, parseInput(row, ir));
        const out = applyHead(
          ir.head,
          ref.output.map((v) => Number(v) / 2 ** DEFAULT_SETTINGS.scaleBits),
        );
        for (let i = 0; i < want[r].length; i++) maxErr = Math.max(maxErr, Math.abs(out[i] - want[r][i]));
        if (labels && ir.labels![Number(ref.decision[0])] !== labels[r]) flips++;
      }
      console.info(
        `${c.name}: model circuit ${gen.constraints} constraints (${gen.plan.map((p) => `${p.name} ${p.constraints}`).join(', ')}), max error ${maxErr.toExponential(2)}, ${labels ? `${flips} decision flips in ${rows.length} rows` : 'regression'}`,
      );
      expect(flips).toBe(0);
      expect(maxErr).toBeLessThanOrEqual(c.tolerance);
    });
  });

  it.each([
    ['gb_credit', 'scikit-learn, 40 trees of depth 3'],
    ['lgbm_credit', 'LightGBM, 60 trees of up to 15 leaves on 8 features'],
  ])(
    'the gradient-boosted credit model %s (%s) in raw units: 20 applicants proved and verified, none refused for range, no decision flipped',
    async (name) => {
      const probe = (await loadModel(file(name))).ir;
      const { rows, labels } = fixture(name, probe);
      const m = await compileModel(file(name), { calibration: rows, fidelity: false });
      const setup = await setupModel(m);
      let flips = 0;
      const t0 = performance.now();
      for (const [r, row] of rows.entries()) {
        const { bundle } = await proveModel(m, setup, row);
        const v = await verifyBundle(bundle);
        expect(v.valid, `row ${r}`).toBe(true);
        const ref = runReference(m.quantized, parseInput(row, m.ir));
        expect(v.outputs!.integers).toEqual(ref.output.map(String));
        if (bundle.model.labels![Number(v.outputs!.decision![0])] !== labels![r]) flips++;
      }
      console.info(
        `${name}: ${m.compiled.constraints} constraints, ${rows.length} applicants proved and verified in ${((performance.now() - t0) / 1000).toFixed(1)} s (warm key), ${flips} flips`,
      );
      expect(flips).toBe(0);
    },
    180_000,
  );

  it.each([
    [1, true],
    [2, false],
  ])("onnxmltools' LightGBM layout without ZipMap (probabilities = scores * %d): accepted as the scores only for 1", async (factor, ok) => {
    // convert_lightgbm(zipmap=False) ends in Mul(lgbmprobabilities, one) instead of the ZipMap.
    const model = onnx.ModelProto.decode(readFileSync(file('lgbm_3class')));
    const g = model.graph!;
    g.node = (g.node ?? []).map((n) =>
      n.opType === 'ZipMap' ? onnx.NodeProto.create({ name: 'Mul', opType: 'Mul', input: ['lgbmprobabilities', 'one'], output: ['probabilities'] }) : n,
    );
    g.initializer = [onnx.TensorProto.create({ name: 'one', dataType: onnx.TensorProto.DataType.FLOAT, dims: [], floatData: [factor] })];
    g.output = g.output!.map((o) =>
      o.name === 'probabilities'
        ? onnx.ValueInfoProto.create({
            name: 'probabilities',
            type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: [{ dimParam: 'N' }, { dimValue: 3 }] } } },
          })
        : o,
    );
    const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-trees-'));
    const f = path.join(dir, 'lgbm_3class_nozipmap.onnx');
    await writeFile(f, onnx.ModelProto.encode(model).finish());
    if (!ok) {
      await expect(loadModel(f)).rejects.toMatchObject({ code: 'MODEL_UNSUPPORTED_GRAPH', message: expect.stringMatching(/followed by "Mul"/) });
      return;
    }
    const { ir } = await loadModel(f);
    expect([ir.head, ir.labels, ir.outputName, ir.onnxOutput?.zipMap]).toEqual(['softmax', ['0', '1', '2'], 'probabilities', undefined]);
    const { rows, want } = fixture('lgbm_3class', ir);
    for (const [r, row] of rows.entries()) {
      const x = parseInput(row, ir);
      const node = await runOnnxRuntime(f, x, ir);
      const got = evalFloat(ir, x).output;
      for (let i = 0; i < 3; i++) {
        expect(Math.abs(node[i] - want[r][i]), `row ${r} [${i}]`).toBeLessThanOrEqual(1e-4);
        expect(Math.abs(got[i] - node[i]), `row ${r} [${i}]`).toBeLessThanOrEqual(1e-5);
      }
    }
  });

  it('an argmax head (random forest probabilities) proves and verifies; the bundle shows the class scores as they are', async () => {
    const name = 'rf_zipmap';
    const probe = (await loadModel(file(name))).ir;
    const { rows, want, labels } = fixture(name, probe);
    const m = await compileModel(file(name), { calibration: rows, fidelity: false });
    const setup = await setupModel(m);
    const { bundle } = await proveModel(m, setup, rows[1]);
    expect(bundle.model.head).toBe('argmax');
    const v = await verifyBundle(bundle);
    expect(v.valid).toBe(true);
    expect(bundle.model.labels![Number(v.outputs!.decision![0])]).toBe(labels![1]);
    for (let i = 0; i < 2; i++) expect(Math.abs(v.outputs!.probability![i] - want[1][i])).toBeLessThan(0.002);
  }, 120_000);

  describe('single tree nodes, against onnxruntime-node', () => {
    const ML = 'ai.onnx.ml';
    async function write(name: string, nodes: NodeSpec[], output: GraphSpec['output']): Promise<string> {
      const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-trees-'));
      const f = path.join(dir, `${name}.onnx`);
      await writeFile(f, buildOnnx({ inputs: [{ name: 'x', dims: ['N', 2] }], output, nodes }));
      return f;
    }
    /** One split on feature 0 at 0.5 and one on feature 1 at -1.25 (mode `mode`), two targets, AVERAGE over two trees. */
    function regressor(mode: string, extra: NodeSpec['attrs'] = {}): NodeSpec {
      return {
        op: 'TreeEnsembleRegressor',
        domain: ML,
        name: 'reg',
        inputs: ['x'],
        outputs: ['y'],
        attrs: {
          n_targets: 2,
          nodes_treeids: [0, 0, 0, 1, 1, 1],
          nodes_nodeids: [0, 1, 2, 0, 1, 2],
          nodes_featureids: [0, 0, 0, 1, 0, 0],
          nodes_values: { floats: [0.5, 0, 0, -1.25, 0, 0] },
          nodes_modes: { strings: [mode, 'LEAF', 'LEAF', mode, 'LEAF', 'LEAF'] },
          nodes_truenodeids: [1, 0, 0, 1, 0, 0],
          nodes_falsenodeids: [2, 0, 0, 2, 0, 0],
          target_treeids: [0, 0, 0, 0, 1, 1],
          target_nodeids: [1, 1, 2, 2, 1, 2],
          target_ids: [0, 1, 0, 1, 1, 0],
          target_weights: { floats: [1.5, -0.25, -2, 0.75, 4, 0.25] },
          base_values: { floats: [0.125, -0.5] },
          aggregate_function: { string: 'AVERAGE' },
          ...extra,
        },
      };
    }
    const rows = [
      [0.5, -1.25],
      [0.25, -1],
      [0.75, -1.5],
      [0.5, 3],
      [-7, -1.25],
      [0.5000001, -1.2499999],
    ];

    it.each(['BRANCH_LEQ', 'BRANCH_LT', 'BRANCH_GTE', 'BRANCH_GT', 'BRANCH_EQ', 'BRANCH_NEQ'])('%s, at and around the thresholds', async (mode) => {
      const f = await write(mode, [regressor(mode)], { name: 'y', dims: ['N', 2] });
      const { ir } = await loadModel(f);
      for (const row of rows) {
        const x = Float64Array.from(row);
        const want = await runOnnxRuntime(f, x, ir);
        const got = evalFloat(ir, x).output;
        expect(
          Array.from(got).map((v) => Math.round(v * 1e6) / 1e6),
          `${mode} at ${row}`,
        ).toEqual(Array.from(want).map((v) => Math.round(v * 1e6) / 1e6));
      }
      // On the grid (x a multiple of 2^-10), the integer model takes the same branches.
      const q = quantizeModel(ir, { scaleBits: 10, bits: 32 });
      for (const row of rows.slice(0, 5)) {
        const want = await runOnnxRuntime(f, Float64Array.from(row), ir);
        const got = runReference(q, row).output.map((v) => Number(v) / 2 ** 10);
        for (let j = 0; j < 2; j++) expect(Math.abs(got[j] - want[j]), `${mode} at ${row}`).toBeLessThan(1e-3);
      }
    });

    it.each(['BRANCH_LEQ', 'BRANCH_LT', 'BRANCH_GTE', 'BRANCH_GT'])(
      '%s after a Scaler with a negative scale: the folded comparison is reversed, as onnxruntime takes it',
      async (mode) => {
        const f = await write(
          `neg-${mode}`,
          [
            { op: 'Scaler', domain: ML, name: 'sc', inputs: ['x'], outputs: ['z'], attrs: { offset: { floats: [1, -2] }, scale: { floats: [-2, 0.5] } } },
            { ...regressor(mode), inputs: ['z'] },
          ],
          { name: 'y', dims: ['N', 2] },
        );
        const { ir } = await loadModel(f);
        expect(ir.layers.map((l) => l.kind)).toEqual(['tree_ensemble']);
        // z0 = -2 (x0 - 1) = 0.5 at x0 = 0.75; z1 = 0.5 (x1 + 2) = -1.25 at x1 = -4.5: at, above and below both.
        const q = quantizeModel(ir, { scaleBits: 10, bits: 32 });
        for (const row of [
          [0.75, -4.5],
          [0.5, -4],
          [1, -5],
          [0.74, -4.51],
          [0.76, -4.49],
          [-3, 8],
        ]) {
          const x = Float64Array.from(row);
          const want = await runOnnxRuntime(f, x, ir);
          expect(
            Array.from(evalFloat(ir, x).output).map((v) => Math.round(v * 1e6) / 1e6),
            `${mode} at ${row}`,
          ).toEqual(Array.from(want).map((v) => Math.round(v * 1e6) / 1e6));
          const got = runReference(q, row).output.map((v) => Number(v) / 2 ** 10);
          for (let j = 0; j < 2; j++) expect(Math.abs(got[j] - want[j]), `${mode} integer at ${row}`).toBeLessThan(1e-3);
        }
      },
    );

    it('a Scaler before the trees (a StandardScaler pipeline) folds into the thresholds: the trees compare the raw inputs at their own scales', async () => {
      const f = await write(
        'scaled',
        [
          {
            op: 'Scaler',
            domain: ML,
            name: 'sc',
            inputs: ['x'],
            outputs: ['z'],
            attrs: { offset: { floats: [50_000, 30] }, scale: { floats: [1 / 20_000, 0.1] } },
          },
          { ...regressor('BRANCH_LEQ'), inputs: ['z'] },
        ],
        { name: 'y', dims: ['N', 2] },
      );
      const { ir } = await loadModel(f);
      expect(ir.layers.map((l) => l.kind)).toEqual(['tree_ensemble']);
      const raw = [
        [60_000, 20],
        [40_000, 17.5],
        [61_000, 25],
        [10_000, 90],
        [150_000, 31],
      ];
      const m = await compileModel(f, { calibration: raw, fidelity: true });
      expect(m.quantized.inputQuant!.scaleBits[0]).toBeLessThan(10);
      for (const row of raw) {
        const want = await runOnnxRuntime(f, Float64Array.from(row), ir);
        const got = runReference(m.quantized, row).output.map((v) => Number(v) / 2 ** 10);
        for (let j = 0; j < 2; j++) expect(Math.abs(got[j] - want[j]), `at ${row}`).toBeLessThan(2e-3);
      }
    }, 60_000);

    it("a binary classifier with mixed-sign weights and post_transform NONE: a sigmoid head, onnxruntime's raw score read through it", async () => {
      const f = await write(
        'mixed',
        [
          {
            op: 'TreeEnsembleClassifier',
            domain: ML,
            name: 'cls',
            inputs: ['x'],
            outputs: ['label', 'scores'],
            attrs: {
              nodes_treeids: [0, 0, 0],
              nodes_nodeids: [0, 1, 2],
              nodes_featureids: [1, 0, 0],
              nodes_values: { floats: [0.25, 0, 0] },
              nodes_modes: { strings: ['BRANCH_LEQ', 'LEAF', 'LEAF'] },
              nodes_truenodeids: [1, 0, 0],
              nodes_falsenodeids: [2, 0, 0],
              class_treeids: [0, 0],
              class_nodeids: [1, 2],
              class_ids: [0, 0],
              class_weights: { floats: [-0.75, 1.5] },
              base_values: { floats: [0.25] },
              classlabels_int64s: [3, 7],
              post_transform: { string: 'NONE' },
            },
          },
        ],
        { name: 'scores', dims: ['N', 2] },
      );
      const { ir } = await loadModel(f);
      expect([ir.head, ir.outputSize, ir.labels, ir.onnxOutput?.apply]).toEqual(['sigmoid', 1, ['3', '7'], 'sigmoid']);
      for (const row of rows) {
        const x = Float64Array.from(row);
        expect(Math.abs(evalFloat(ir, x).output[0] - (await runOnnxRuntime(f, x, ir))[0])).toBeLessThan(1e-6);
      }
    });

    it.each([
      ['NONE', 'argmax'],
      ['SOFTMAX', 'softmax'],
    ])('a binary classifier with a column per class, %s: an %s head over both columns', async (post, head) => {
      const f = await write(
        `two-${post}`,
        [
          {
            op: 'TreeEnsembleClassifier',
            domain: ML,
            name: 'cls',
            inputs: ['x'],
            outputs: ['label', 'scores'],
            attrs: {
              nodes_treeids: [0, 0, 0],
              nodes_nodeids: [0, 1, 2],
              nodes_featureids: [1, 0, 0],
              nodes_values: { floats: [0.25, 0, 0] },
              nodes_modes: { strings: ['BRANCH_LEQ', 'LEAF', 'LEAF'] },
              nodes_truenodeids: [1, 0, 0],
              nodes_falsenodeids: [2, 0, 0],
              class_treeids: [0, 0, 0, 0],
              class_nodeids: [1, 1, 2, 2],
              class_ids: [0, 1, 0, 1],
              class_weights: { floats: [0.3, 0.7, 0.8, 0.2] },
              classlabels_int64s: [3, 7],
              post_transform: { string: post },
            },
          },
        ],
        { name: 'scores', dims: ['N', 2] },
      );
      const { ir } = await loadModel(f);
      expect([ir.head, ir.outputSize]).toEqual([head, 2]);
      for (const row of rows) {
        const x = Float64Array.from(row);
        const want = await runOnnxRuntime(f, x, ir);
        const got = evalFloat(ir, x).output;
        for (let j = 0; j < 2; j++) expect(Math.abs(got[j] - want[j])).toBeLessThan(1e-6);
      }
    });

    it('refuses MIN aggregation, PROBIT, an unknown mode and positive binary weights under LOGISTIC, naming each node at once', async () => {
      const cls = (name: string, post: string): NodeSpec => ({
        op: 'TreeEnsembleClassifier',
        domain: ML,
        name,
        inputs: ['x'],
        outputs: [`${name}_label`, `${name}_scores`],
        attrs: {
          nodes_treeids: [0, 0, 0],
          nodes_nodeids: [0, 1, 2],
          nodes_featureids: [0, 0, 0],
          nodes_values: { floats: [0.5, 0, 0] },
          nodes_modes: { strings: ['BRANCH_LEQ', 'LEAF', 'LEAF'] },
          nodes_truenodeids: [1, 0, 0],
          nodes_falsenodeids: [2, 0, 0],
          class_treeids: [0, 0],
          class_nodeids: [1, 2],
          class_ids: [0, 0],
          class_weights: { floats: [0.25, 0.75] },
          classlabels_int64s: [0, 1],
          post_transform: { string: post },
        },
      });
      const f = await write(
        'refused',
        [
          regressor('BRANCH_LEQ', { aggregate_function: { string: 'MIN' } }),
          { ...regressor('BRANCH_SOMETIMES'), name: 'odd', inputs: ['y'], outputs: ['y2'] },
          { ...cls('probit', 'PROBIT'), inputs: ['y2'] },
        ],
        { name: 'probit_scores', dims: ['N', 2] },
      );
      const err = await loadModel(f).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'MODEL_UNSUPPORTED_OP' });
      const msg = (err as Error).message;
      expect(msg).toMatch(/at 3 nodes/);
      expect(msg).toMatch(/"reg" \(aggregate_function MIN is not a sum/);
      expect(msg).toMatch(/"odd" \(node mode BRANCH_SOMETIMES/);
      expect(msg).toMatch(/"probit" \(post_transform PROBIT/);
      const pos = await write('positive', [cls('cls', 'LOGISTIC')], { name: 'cls_scores', dims: ['N', 2] });
      await expect(loadModel(pos)).rejects.toMatchObject({ code: 'MODEL_UNSUPPORTED_GRAPH', field: 'cls', message: expect.stringMatching(/score > 0\.5/) });
    });

    it('refuses a node with two parents, a cycle and a weight on an internal node, naming the node', async () => {
      const base = regressor('BRANCH_LEQ');
      const bad = async (name: string, attrs: NodeSpec['attrs']) =>
        loadModel(await write(name, [{ ...base, attrs: { ...base.attrs, ...attrs } }], { name: 'y', dims: ['N', 2] })).catch((e: unknown) => e);
      expect(await bad('dag', { nodes_falsenodeids: [1, 0, 0, 2, 0, 0] })).toMatchObject({
        code: 'MODEL_UNSUPPORTED_GRAPH',
        message: expect.stringMatching(/node 1 of tree 0 has two parents/),
      });
      // Tree 1: its root's children are 1 and 2; node 2 points back to node 1's ... a cycle 1 -> 2 -> 1 off the root.
      expect(
        await bad('cycle', {
          nodes_modes: { strings: ['BRANCH_LEQ', 'LEAF', 'LEAF', 'BRANCH_LEQ', 'BRANCH_LEQ', 'BRANCH_LEQ'] },
          nodes_truenodeids: [1, 0, 0, 1, 2, 1],
          nodes_falsenodeids: [2, 0, 0, 1, 2, 1],
        }),
      ).toMatchObject({ code: 'MODEL_UNSUPPORTED_GRAPH' });
      expect(await bad('internal', { target_nodeids: [0, 1, 2, 2, 1, 2] })).toMatchObject({
        code: 'MODEL_UNSUPPORTED_GRAPH',
        message: expect.stringMatching(/not a leaf/),
      });
      // Target 1 scored on some leaves only, with a base value: onnxruntime then drops the base.
      expect(await bad('sparse', { target_ids: [0, 0, 0, 1, 1, 0] })).toMatchObject({
        code: 'MODEL_UNSUPPORTED_GRAPH',
        message: expect.stringMatching(/target 1 is not scored by every leaf/),
      });
    });
  });

  describe('large ensembles', () => {
    /** `trees` complete trees of depth `depth` on 10 features, seeded thresholds; one target. */
    function forest(trees: number, depth: number): Uint8Array {
      let s = 12345;
      const rnd = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
      const a = {
        treeids: [] as number[],
        nodeids: [] as number[],
        feats: [] as number[],
        values: [] as number[],
        modes: [] as string[],
        t: [] as number[],
        f: [] as number[],
        wt: [] as number[],
        wn: [] as number[],
        ww: [] as number[],
      };
      const per = 2 ** (depth + 1) - 1;
      for (let tr = 0; tr < trees; tr++) {
        for (let k = 0; k < per; k++) {
          const leaf = k >= 2 ** depth - 1;
          a.treeids.push(tr);
          a.nodeids.push(k);
          a.feats.push(leaf ? 0 : Math.floor(rnd() * 10));
          a.values.push(leaf ? 0 : Math.round((rnd() * 4 - 2) * 1000) / 1000);
          a.modes.push(leaf ? 'LEAF' : 'BRANCH_LEQ');
          a.t.push(leaf ? 0 : 2 * k + 1);
          a.f.push(leaf ? 0 : 2 * k + 2);
          if (leaf) {
            a.wt.push(tr);
            a.wn.push(k);
            a.ww.push(rnd() * 0.02 - 0.01);
          }
        }
      }
      return buildOnnx({
        inputs: [{ name: 'x', dims: ['N', 10] }],
        output: { name: 'y', dims: ['N', 1] },
        nodes: [
          {
            op: 'TreeEnsembleRegressor',
            domain: 'ai.onnx.ml',
            name: 'forest',
            inputs: ['x'],
            outputs: ['y'],
            attrs: {
              n_targets: 1,
              nodes_treeids: a.treeids,
              nodes_nodeids: a.nodeids,
              nodes_featureids: a.feats,
              nodes_values: { floats: a.values },
              nodes_modes: { strings: a.modes },
              nodes_truenodeids: a.t,
              nodes_falsenodeids: a.f,
              target_treeids: a.wt,
              target_nodeids: a.wn,
              target_ids: a.wt.map(() => 0),
              target_weights: { floats: a.ww },
            },
          },
        ],
      });
    }

    it('a 25,500-node forest loads in seconds and is sized before compiling: refused cleanly under a smaller constraint limit', async () => {
      const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-forest-'));
      const f = path.join(dir, 'forest.onnx');
      await writeFile(f, forest(50, 8));
      const t0 = performance.now();
      const loaded = await loadModel(f);
      expect(performance.now() - t0).toBeLessThan(10_000);
      const layer = loaded.ir.layers[0];
      expect(layer.kind === 'tree_ensemble' && layer.feature.length).toBe(50 * 511);
      const est = estimateConstraints(loaded.ir, { scaleBits: 10, bits: 32 });
      // One product per internal node below a root, plus shared comparisons.
      expect(est.total).toBeGreaterThan(50 * 254);
      console.info(
        `forest of 50 trees x 511 nodes: loaded in ${(performance.now() - t0).toFixed(0)} ms, estimated ${est.total.toLocaleString('en-US')} constraints (${est.layers.map((l) => `${l.name} ${l.constraints}`).join(', ')})`,
      );
      const err = await compileLoaded({ ...loaded, bytes: new Uint8Array([1]), externalBytes: [] }, { limits: { maxConstraints: 20_000 } }).catch(
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code: 'MODEL_TOO_LARGE', message: expect.stringMatching(/maxConstraints/) });
    }, 60_000);

    it('a 130,000-node forest is refused by a size limit before it is decoded', async () => {
      const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-forest-'));
      const f = path.join(dir, 'forest.onnx');
      await writeFile(f, forest(127, 9));
      await expect(loadModel(f)).rejects.toMatchObject({ code: 'MODEL_TOO_LARGE', message: expect.stringMatching(/maxProtoFields/) });
      // With the structure limit raised, the node's parameters are over their limit, before its arrays are built.
      await expect(loadModel(f, { limits: { maxProtoFields: 5_000_000 } })).rejects.toMatchObject({
        code: 'MODEL_TOO_LARGE',
        field: 'forest',
        message: expect.stringMatching(/maxParameters/),
      });
    }, 60_000);
  });
});
