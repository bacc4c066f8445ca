import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyHead, buildOnnx, evalFloat, type GraphSpec, loadModel, type NodeSpec, parseInput, runOnnxRuntime } from '../../src/model/index.ts';
import { compileModel, proveModel, setupModel } from '../../src/pipeline/index.ts';
import { runReference } from '../../src/quant/index.ts';
import { verifyBundle } from '../../src/verifier/index.ts';
import { REPO } from '../helpers/paths.ts';

/**
 * scikit-learn pipelines as skl2onnx exports them (ai.onnx.ml Scaler, LinearClassifier,
 * LinearRegressor, ArrayFeatureExtractor, FeatureVectorizer, Normalizer, ZipMap), from
 * test/fixtures/models/sklearn (written by scripts/make-sklearn-fixtures.py with the
 * outputs of onnxruntime in Python). Each imports, lowers exactly (float IR against
 * onnxruntime), compiles with its inputs in raw units (calibration rows), and its integer
 * reference gives the same decision as onnxruntime's label on every row.
 */
const DIR = path.join(REPO, 'test', 'fixtures', 'models', 'sklearn');

interface Case {
  name: string;
  head: 'sigmoid' | 'softmax' | 'none';
  labels?: string[];
  settings?: { scaleBits: number; bits: number };
  /** Max abs error of the quantized output (probabilities, or the regressor's value) against onnxruntime. */
  tolerance: number;
}

const CASES: Case[] = [
  // Small weights on raw incomes: 12 fractional bits keep the probability within 0.003.
  { name: 'logreg_binary', head: 'sigmoid', labels: ['0', '1'], settings: { scaleBits: 12, bits: 32 }, tolerance: 0.005 },
  { name: 'logreg_binary_zipmap', head: 'sigmoid', labels: ['approve', 'decline'], settings: { scaleBits: 12, bits: 32 }, tolerance: 0.005 },
  { name: 'logreg_3class', head: 'softmax', labels: ['high_risk', 'low_risk', 'medium_risk'], tolerance: 0.005 },
  // A credit limit in dollars (up to ~10^5): 48-bit activations at 2^14.
  { name: 'linreg_limit', head: 'none', settings: { scaleBits: 14, bits: 48 }, tolerance: 5 },
  { name: 'linear_svc', head: 'sigmoid', labels: ['0', '1'], tolerance: 0.02 },
  { name: 'svc_linear', head: 'sigmoid', labels: ['approve', 'decline'], settings: { scaleBits: 12, bits: 32 }, tolerance: 0.02 },
  // Thousands of dollars.
  { name: 'svr_linear', head: 'none', settings: { scaleBits: 12, bits: 40 }, tolerance: 0.05 },
  // ColumnTransformer: a scaled group and a passthrough column, in another order than the inputs.
  { name: 'column_transformer', head: 'sigmoid', labels: ['0', '1'], settings: { scaleBits: 12, bits: 32 }, tolerance: 0.005 },
  { name: 'column_transformer_table', head: 'sigmoid', labels: ['0', '1'], settings: { scaleBits: 12, bits: 32 }, tolerance: 0.005 },
  { name: 'multi_input', head: 'sigmoid', labels: ['0', '1'], settings: { scaleBits: 12, bits: 32 }, tolerance: 0.005 },
];

const read = (name: string, kind: string) => JSON.parse(readFileSync(path.join(DIR, `${name}.${kind}.json`), 'utf8'));
const file = (name: string) => path.join(DIR, `${name}.onnx`);

/** The rows, onnxruntime's output (in the IR's head space) and label per row. */
function fixture(name: string, ir: Awaited<ReturnType<typeof loadModel>>['ir']) {
  const rows: number[][] = read(name, 'inputs').rows;
  const exp: Record<string, unknown[]> = read(name, 'expected');
  const labelKey = Object.keys(exp).find((k) => ir.labelOutputs?.includes(k));
  const outKey = Object.keys(exp).find((k) => k !== labelKey)!;
  const o = ir.onnxOutput;
  const want = (exp[outKey] as number[][]).map((e) => (o ? applyHead(o.apply, o.pick.map((i) => e[i])) : e));
  const labels = labelKey ? (exp[labelKey] as (string | number)[]).map(String) : null;
  return { rows, want, labels };
}

describe('scikit-learn pipelines (ai.onnx.ml)', () => {
  describe.each(CASES)('$name', (c) => {
    it('lowers exactly: the float IR and onnxruntime-node agree with onnxruntime in Python on every row', async () => {
      const { ir } = await loadModel(file(c.name));
      expect(ir.head).toBe(c.head);
      expect(ir.labels).toEqual(c.labels);
      // Every linear op folds into one dense layer.
      expect(ir.layers.map((l) => l.kind)).toEqual(['dense']);
      const { rows, want, labels } = fixture(c.name, ir);
      expect(rows).toHaveLength(20);
      for (const [r, row] of rows.entries()) {
        const x = parseInput(row, ir);
        const f = evalFloat(ir, x);
        const node = await runOnnxRuntime(file(c.name), x, ir);
        for (let i = 0; i < want[r].length; i++) {
          const tol = 1e-4 * Math.max(1, Math.abs(want[r][i]));
          expect(Math.abs(f.output[i] - want[r][i]), `row ${r} [${i}]`).toBeLessThanOrEqual(tol);
          expect(Math.abs(node[i] - want[r][i])).toBeLessThanOrEqual(tol);
        }
        if (labels) {
          const decision = c.head === 'sigmoid' ? (f.logits[0] >= 0 ? 1 : 0) : f.logits.indexOf(Math.max(...f.logits));
          expect(ir.labels![decision], `row ${r}`).toBe(labels[r]);
        }
      }
    });

    it('compiles in raw units; the integer reference matches onnxruntime with no decision flip', async () => {
      const probe = (await loadModel(file(c.name))).ir;
      const { rows, want, labels } = fixture(c.name, probe);
      const m = await compileModel(file(c.name), { calibration: rows, settings: c.settings, fidelity: true });
      expect(m.descriptor.labels).toEqual(c.labels);
      expect(m.fidelity!.outOfRange).toBe(0);
      expect(m.fidelity!.maxAbsError).toBeLessThanOrEqual(c.tolerance);
      let flips = 0;
      let maxErr = 0;
      for (const [r, row] of rows.entries()) {
        const ref = runReference(m.quantized, parseInput(row, m.ir));
        const out = applyHead(m.ir.head, ref.output.map((v) => Number(v) / 2 ** m.settings.scaleBits));
        for (let i = 0; i < want[r].length; i++) maxErr = Math.max(maxErr, Math.abs(out[i] - want[r][i]));
        if (labels && m.ir.labels![Number(ref.decision![0])] !== labels[r]) flips++;
      }
      console.info(`${c.name}: ${m.compiled.constraints} constraints, max error ${maxErr.toExponential(2)}, ${flips} decision flips in ${rows.length} rows`);
      expect(flips).toBe(0);
      expect(maxErr).toBeLessThanOrEqual(c.tolerance);
    });
  });

  it.each(['logreg_binary_zipmap', 'logreg_3class'])('%s: proves and verifies end to end, the decision named by the ONNX class labels', async (name) => {
    const c = CASES.find((k) => k.name === name)!;
    const probe = (await loadModel(file(name))).ir;
    const { rows, labels } = fixture(name, probe);
    const m = await compileModel(file(name), { calibration: rows, settings: c.settings, fidelity: false });
    const setup = await setupModel(m);
    const { bundle } = await proveModel(m, setup, rows[0]);
    expect(bundle.model.labels).toEqual(c.labels);
    const v = await verifyBundle(bundle);
    expect(v.valid).toBe(true);
    const ref = runReference(m.quantized, parseInput(rows[0], m.ir));
    expect(v.outputs!.integers).toEqual(ref.output.map(String));
    expect(m.ir.labels![Number(ref.decision![0])]).toBe(labels![0]);
  });

  it('labels given by the user win over the ONNX class labels', async () => {
    const { rows } = fixture('logreg_binary', (await loadModel(file('logreg_binary'))).ir);
    const m = await compileModel(file('logreg_binary'), { calibration: rows, labels: ['decline', 'approve'], fidelity: false });
    expect(m.descriptor.labels).toEqual(['decline', 'approve']);
  });

  it('refuses Normalizer(L2), Binarizer and an RBF SVM at once, naming each op and node (the TreeEnsembleClassifier after them is supported)', async () => {
    const err = await loadModel(file('refused_trees')).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'MODEL_UNSUPPORTED_OP', field: 'norm_l2' });
    const msg = (err as Error).message;
    expect(msg).toMatch(/at 3 nodes/);
    expect(msg).toMatch(/"ai\.onnx\.ml\.SVMRegressor" at node "svr_rbf" \(kernel RBF is not linear/);
    expect(msg).toMatch(/"ai\.onnx\.ml\.Normalizer" at node "norm_l2" \(L2 normalisation is not linear\)/);
    expect(msg).toMatch(/"ai\.onnx\.ml\.Binarizer" at node "binarize"/);
    expect(msg).not.toMatch(/TreeEnsembleClassifier" at node/);
    // The supported list separates ops on activations from ops folded on constants.
    expect(msg).toMatch(/supported on activations: .*Gemm.*; folded on constants only: .*Transpose.*; ai\.onnx\.ml: .*LinearClassifier/);
  });

  describe('single ai.onnx.ml nodes, against onnxruntime-node', () => {
    const ML = 'ai.onnx.ml';
    const W = [0.5, -1.25, 2, 0.75];
    async function write(name: string, nodes: NodeSpec[], output: GraphSpec['output'] = { name: 'scores', dims: ['N', 2] }): Promise<string> {
      const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-ml-'));
      const f = path.join(dir, `${name}.onnx`);
      await writeFile(f, buildOnnx({ inputs: [{ name: 'x', dims: ['N', 4] }], output, nodes }));
      return f;
    }
    const rows = [[0.3, -1, 2, 0.5], [-2, 0.1, 0.2, -0.7], [1, 1, -1, 1]];

    it.each(['NONE', 'LOGISTIC'])('LinearClassifier with one coefficient row and two labels, %s: a sigmoid head on the row, column 1 of the scores', async (post) => {
      const f = await write(`one-row-${post}`, [
        { op: 'LinearClassifier', domain: ML, name: 'lc', inputs: ['x'], outputs: ['label', 'scores'], attrs: { coefficients: { floats: W }, intercepts: { floats: [0.25] }, classlabels_ints: [3, 7], post_transform: { string: post } } },
      ]);
      const { ir } = await loadModel(f);
      expect([ir.head, ir.outputSize, ir.labels, ir.onnxOutput?.pick]).toEqual(['sigmoid', 1, ['3', '7'], [1]]);
      for (const row of rows) {
        const x = Float64Array.from(row);
        const want = await runOnnxRuntime(f, x, ir);
        const got = evalFloat(ir, x).output;
        expect(Math.abs(got[0] - want[0])).toBeLessThan(1e-5);
      }
    });

    it('Normalizer(L1) anywhere but after a binary logistic classifier is refused, naming the node', async () => {
      const f = await write('l1', [
        { op: 'Scaler', domain: ML, name: 'sc', inputs: ['x'], outputs: ['s'], attrs: { scale: { floats: [2] }, offset: { floats: [1] } } },
        { op: 'Normalizer', domain: ML, name: 'l1', inputs: ['s'], outputs: ['scores'], attrs: { norm: { string: 'L1' } } },
      ], { name: 'scores', dims: ['N', 4] });
      await expect(loadModel(f)).rejects.toMatchObject({ code: 'MODEL_UNSUPPORTED_GRAPH', field: 'l1', message: expect.stringMatching(/L1 normalisation is not linear/) });
    });

    it('a column prefix that doubles its width per Concat is refused at the width limit, before it is built', async () => {
      const nodes: NodeSpec[] = [{ op: 'ArrayFeatureExtractor', domain: ML, name: 'pick', inputs: ['x', 'cols'], outputs: ['c0'] }];
      for (let i = 0; i < 30; i++) nodes.push({ op: 'Concat', name: `dup${i}`, inputs: [`c${i}`, `c${i}`], outputs: [`c${i + 1}`], attrs: { axis: 1 } });
      nodes.push({ op: 'Concat', name: 'both', inputs: ['c30', 'x'], outputs: ['scores'], attrs: { axis: 1 } });
      const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-ml-'));
      const f = path.join(dir, 'doubling.onnx');
      await writeFile(f, buildOnnx({ inputs: [{ name: 'x', dims: ['N', 4] }], output: { name: 'scores', dims: ['N', 8] }, initializers: [{ name: 'cols', dims: [4], data: [0, 1, 2, 3], type: 'int64' }], nodes }));
      await expect(loadModel(f)).rejects.toMatchObject({ code: 'MODEL_TOO_LARGE', message: expect.stringMatching(/maxLayerWidth/) });
    });

    it('one-vs-rest LOGISTIC over three classes is refused; an Imputer is refused by name', async () => {
      const ovr = await write('ovr', [
        { op: 'LinearClassifier', domain: ML, name: 'ovr', inputs: ['x'], outputs: ['label', 'scores'], attrs: { coefficients: { floats: [...W, ...W, ...W] }, classlabels_ints: [0, 1, 2], post_transform: { string: 'LOGISTIC' } } },
      ], { name: 'scores', dims: ['N', 3] });
      await expect(loadModel(ovr)).rejects.toMatchObject({ code: 'MODEL_UNSUPPORTED_GRAPH', field: 'ovr', message: expect.stringMatching(/one-vs-rest/) });
      const imp = await write('imputer', [
        { op: 'Imputer', domain: ML, name: 'imp', inputs: ['x'], outputs: ['scores'], attrs: { imputed_value_floats: { floats: [0, 0, 0, 0] }, replaced_value_float: { float: Number.NaN } } },
      ], { name: 'scores', dims: ['N', 4] });
      await expect(loadModel(imp)).rejects.toMatchObject({ code: 'MODEL_UNSUPPORTED_OP', field: 'imp', message: expect.stringMatching(/Imputer.*NaN/) });
    });
  });
});
