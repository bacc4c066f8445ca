import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readTestSet } from '../../src/release/test-set.ts';
import { applyHead, buildOnnx, type GraphSpec, loadModel, type NodeSpec, parseInput, readInputRows, runOnnxRuntime } from '../../src/model/index.ts';
import { checkInput } from '../../src/quant/check-input.ts';
import { evalFloat } from '../../src/quant/float-eval.ts';
import { compileModel, proveModel, setupModel } from '../../src/pipeline/index.ts';
import { activationBits, runReference } from '../../src/quant/index.ts';
import { firstViolated, loadWitnessCalculator, readR1csConstraints } from '../../src/circuit/index.ts';
import { packedCount, unpackValues } from '../../src/fixed/pack.ts';
import { verifyBundle } from '../../src/verifier/index.ts';
import { REPO } from '../helpers/paths.ts';
import onnxProto from 'onnx-proto';

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
  /** The lowered layers' kinds (default: one dense layer, every linear op folded). */
  kinds?: string[];
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
  // One graph input per column: numeric columns scaled, string and int64 categories one-hot encoded.
  { name: 'credit_categorical', head: 'sigmoid', labels: ['0', '1'], settings: { scaleBits: 12, bits: 32 }, tolerance: 0.005 },
  // OrdinalEncoder: one LabelEncoder (strings -> int64) per categorical column.
  { name: 'credit_ordinal', head: 'sigmoid', labels: ['0', '1'], settings: { scaleBits: 12, bits: 32 }, tolerance: 0.005 },
  // SimpleImputer (NaN -> median): rows with missing values given as null.
  { name: 'credit_imputer', head: 'sigmoid', labels: ['0', '1'], settings: { scaleBits: 12, bits: 32 }, tolerance: 0.005 },
  // Binarizer after a StandardScaler (the scaler stays a layer of its own, rescaled: the comparison reads its output).
  {
    name: 'binarizer_scaled',
    head: 'sigmoid',
    labels: ['0', '1'],
    settings: { scaleBits: 12, bits: 32 },
    tolerance: 0.005,
    kinds: ['sparse', 'binarize', 'dense'],
  },
  // Binarizer on raw counts and a balance in dollars: each feature compared at its own calibrated scale.
  { name: 'binarizer_raw', head: 'sigmoid', labels: ['0', '1'], settings: { scaleBits: 12, bits: 32 }, tolerance: 0.005, kinds: ['binarize', 'dense'] },
  // Normalizers proven in the circuit: on the inputs (L1, MAX, with an all-zero row), after a StandardScaler (L2).
  { name: 'normalizer_l1', head: 'sigmoid', labels: ['0', '1'], settings: { scaleBits: 12, bits: 32 }, tolerance: 0.01, kinds: ['normalize', 'dense'] },
  { name: 'normalizer_max', head: 'sigmoid', labels: ['0', '1'], settings: { scaleBits: 12, bits: 32 }, tolerance: 0.01, kinds: ['normalize', 'dense'] },
  {
    name: 'normalizer_l2',
    head: 'sigmoid',
    labels: ['0', '1'],
    settings: { scaleBits: 12, bits: 32 },
    tolerance: 0.005,
    kinds: ['sparse', 'normalize', 'dense'],
  },
  // MLPClassifier (skl2onnx's layout): Sigmoid, then Sub(1, p) and Concat(1 - p, p), ArgMax -> ArrayFeatureExtractor(classes) as the label.
  {
    name: 'mlp_binary',
    head: 'sigmoid',
    labels: ['0', '1'],
    settings: { scaleBits: 12, bits: 32 },
    tolerance: 0.01,
    kinds: ['dense', 'relu', 'dense', 'relu', 'dense'],
  },
  { name: 'mlp_3class', head: 'softmax', labels: ['0', '1', '2'], tolerance: 0.01, kinds: ['dense', 'relu', 'dense'] },
];

const read = (name: string, kind: string) => JSON.parse(readFileSync(path.join(DIR, `${name}.${kind}.json`), 'utf8'));
const file = (name: string) => path.join(DIR, `${name}.onnx`);

/** The rows, onnxruntime's output (in the IR's head space) and label per row. */
function fixture(name: string, ir: Awaited<ReturnType<typeof loadModel>>['ir']) {
  const rows: (number | string | null)[][] = read(name, 'inputs').rows;
  const exp: Record<string, unknown[]> = read(name, 'expected');
  const labelKey = Object.keys(exp).find((k) => ir.labelOutputs?.includes(k));
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

describe('scikit-learn pipelines (ai.onnx.ml)', () => {
  describe.each(CASES)('$name', (c) => {
    it('lowers exactly: the float IR and onnxruntime-node agree with the fixture outputs (onnxruntime in Python, or scikit-learn) on every row', async () => {
      const { ir } = await loadModel(file(c.name));
      expect(ir.head).toBe(c.head);
      expect(ir.labels).toEqual(c.labels);
      // Every linear op folds into one dense layer (a Binarizer or Normalizer is a layer of its own).
      expect(ir.layers.map((l) => l.kind)).toEqual(c.kinds ?? ['dense']);
      const { rows, want, labels } = fixture(c.name, ir);
      expect(rows).toHaveLength(20);
      for (const [r, row] of rows.entries()) {
        const x = parseInput(row as unknown[], ir);
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
      const m = await compileModel(file(c.name), { calibration: rows.map((r) => parseInput(r, probe)), settings: c.settings, fidelity: true });
      expect(m.descriptor.labels).toEqual(c.labels);
      expect(m.fidelity!.outOfRange).toBe(0);
      expect(m.fidelity!.maxAbsError).toBeLessThanOrEqual(c.tolerance);
      let flips = 0;
      let maxErr = 0;
      for (const [r, row] of rows.entries()) {
        const ref = runReference(m.quantized, parseInput(row as unknown[], m.ir));
        const out = applyHead(
          m.ir.head,
          ref.output.map((v) => Number(v) / 2 ** m.settings.scaleBits),
        );
        for (let i = 0; i < want[r].length; i++) maxErr = Math.max(maxErr, Math.abs(out[i] - want[r][i]));
        if (labels && m.ir.labels![Number(ref.decision![0])] !== labels[r]) flips++;
      }
      console.info(`${c.name}: ${m.compiled.constraints} constraints, max error ${maxErr.toExponential(2)}, ${flips} decision flips in ${rows.length} rows`);
      expect(flips).toBe(0);
      expect(maxErr).toBeLessThanOrEqual(c.tolerance);
    });
  });

  it('an MLPClassifier trained on string labels: the STRING classes tensor names the decisions', async () => {
    // mlp_3class as skl2onnx writes it for string classes: a STRING `classes` initializer, no Cast of the label.
    const { onnx } = onnxProto;
    const m = onnx.ModelProto.decode(readFileSync(file('mlp_3class')));
    const names = ['high_risk', 'low_risk', 'medium_risk'];
    const g = m.graph!;
    g.initializer = g.initializer!.map((t) =>
      t.name === 'classes'
        ? onnx.TensorProto.create({
            name: 'classes',
            dims: [3],
            dataType: onnx.TensorProto.DataType.STRING,
            stringData: names.map((n) => new TextEncoder().encode(n)),
          })
        : t,
    );
    for (const n of g.node!) {
      if (n.opType === 'Cast' && n.output![0] === 'label') {
        n.opType = 'Identity';
        n.attribute = [];
      }
      if (n.opType === 'ZipMap')
        n.attribute = [
          onnx.AttributeProto.create({
            name: 'classlabels_strings',
            type: onnx.AttributeProto.AttributeType.STRINGS,
            strings: names.map((x) => new TextEncoder().encode(x)),
          }),
        ];
    }
    g.output!.find((o) => o.name === 'output_label')!.type!.tensorType!.elemType = onnx.TensorProto.DataType.STRING;
    const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-mlp-'));
    const f = path.join(dir, 'mlp_strings.onnx');
    await writeFile(f, onnx.ModelProto.encode(m).finish());
    const { ir } = await loadModel(f);
    expect([ir.head, ir.labels]).toEqual(['softmax', names]);
    // A STRING tensor used as a number is refused as a non-finite weight, naming the layer.
    const bad = onnx.ModelProto.decode(onnx.ModelProto.encode(m).finish());
    bad.graph!.initializer = bad.graph!.initializer!.map((t) =>
      t.name === 'intercepts1'
        ? onnx.TensorProto.create({
            name: 'intercepts1',
            dims: [1, 3],
            dataType: onnx.TensorProto.DataType.STRING,
            stringData: ['a', 'b', 'c'].map((n) => new TextEncoder().encode(n)),
          })
        : t,
    );
    const fb = path.join(dir, 'mlp_string_weights.onnx');
    await writeFile(fb, onnx.ModelProto.encode(bad).finish());
    await expect(loadModel(fb)).rejects.toMatchObject({ code: 'MODEL_BAD_WEIGHTS' });
    const rows: number[][] = read('mlp_3class', 'inputs').rows;
    const exp: Record<string, number[][]> = read('mlp_3class', 'expected');
    for (const [r, row] of rows.slice(0, 5).entries()) {
      const got = evalFloat(ir, row).output;
      const want = await runOnnxRuntime(f, Float64Array.from(row), ir);
      got.forEach((v, i) => {
        expect(Math.abs(v - want[i])).toBeLessThan(1e-4);
        expect(Math.abs(v - exp.output_probability[r][i])).toBeLessThan(1e-4);
      });
    }
  });

  it.each(['logreg_binary_zipmap', 'logreg_3class', 'mlp_binary'])(
    '%s: proves and verifies end to end, the decision named by the ONNX class labels',
    async (name) => {
      const c = CASES.find((k) => k.name === name)!;
      const probe = (await loadModel(file(name))).ir;
      const { rows, labels } = fixture(name, probe);
      const m = await compileModel(file(name), { calibration: rows.map((r) => parseInput(r, probe)), settings: c.settings, fidelity: false });
      const setup = await setupModel(m);
      const { bundle } = await proveModel(m, setup, rows[0]);
      expect(bundle.model.labels).toEqual(c.labels);
      const v = await verifyBundle(bundle);
      expect(v.valid).toBe(true);
      const ref = runReference(m.quantized, parseInput(rows[0], m.ir));
      expect(v.outputs!.integers).toEqual(ref.output.map(String));
      expect(m.ir.labels![Number(ref.decision![0])]).toBe(labels![0]);
    },
  );

  it.each(CASES.filter((c) => c.kinds))(
    "$name: on every fixture row the proof circuit's witness holds the integer reference's outputs and decision and satisfies every constraint",
    async (c) => {
      const probe = (await loadModel(file(c.name))).ir;
      const { rows } = fixture(c.name, probe);
      const m = await compileModel(file(c.name), { calibration: rows.map((r) => parseInput(r, probe)), settings: c.settings, fidelity: false });
      const calc = await loadWitnessCalculator(m.compiled.wasm);
      const constraints = await readR1csConstraints(m.compiled.r1cs);
      const width = activationBits(m.settings);
      const n = m.ir.outputSize + m.circuit.decisionSize;
      for (const row of rows) {
        const ref = runReference(m.quantized, parseInput(row, m.ir));
        const w = await calc.witness({ nonce: 7n, x: ref.input, salt: 11n });
        const values = unpackValues(
          Array.from({ length: packedCount(n, width) }, (_, i) => w[3 + i]),
          n,
          width,
        );
        expect(values).toEqual([...ref.output, ...ref.decision]);
        expect(firstViolated(constraints, w)).toBe(-1);
      }
    },
  );

  it.each(['binarizer_raw', 'normalizer_l2'])(
    '%s: proves and verifies end to end (real circom compile and Groth16), the proven output being the integer reference',
    async (name) => {
      const c = CASES.find((k) => k.name === name)!;
      const probe = (await loadModel(file(name))).ir;
      const { rows, labels } = fixture(name, probe);
      const m = await compileModel(file(name), { calibration: rows.map((r) => parseInput(r, probe)), settings: c.settings, fidelity: false });
      if (name === 'binarizer_raw') {
        // The balance in dollars at a coarse scale of its own, the counts at the model's: compared where they are.
        expect(m.quantized.inputQuant!.scaleBits[3]).toBeLessThan(c.settings!.scaleBits);
        expect(m.quantized.inputQuant!.scaleBits[0]).toBe(c.settings!.scaleBits);
        expect(m.circuit.plan.find((p) => p.kind === 'binarize')!.constraints).toBe(m.quantized.inputQuant!.bits.reduce((a, b) => a + b + 2, 0));
      }
      const setup = await setupModel(m);
      // For the Binarizer, a row whose binarized features are not all equal, so the proof is not of a constant.
      const r = name === 'binarizer_raw' ? rows.findIndex((row) => new Set(row.map((v) => Number(v) > 0.5)).size > 1) : 0;
      expect(r).toBeGreaterThanOrEqual(0);
      const { bundle } = await proveModel(m, setup, rows[r]);
      const v = await verifyBundle(bundle);
      expect(v.valid).toBe(true);
      const ref = runReference(m.quantized, parseInput(rows[r], m.ir));
      expect(v.outputs!.integers).toEqual(ref.output.map(String));
      expect(m.ir.labels![Number(ref.decision[0])]).toBe(labels![r]);
    },
  );

  describe('categorical columns and missing values', () => {
    it("credit_categorical: proves and verifies a row given with string and integer categories; the descriptor holds each column's categories, and editing them breaks the commitment", async () => {
      const c = CASES.find((k) => k.name === 'credit_categorical')!;
      const probe = (await loadModel(file(c.name))).ir;
      const { rows, labels } = fixture(c.name, probe);
      const m = await compileModel(file(c.name), { calibration: rows.map((r) => parseInput(r, probe)), settings: c.settings, fidelity: false });
      const home = m.descriptor.inputs.find((i) => i.name === 'home_ownership')!;
      expect(home).toEqual({ name: 'home_ownership', size: 3, categories: [['MORTGAGE', 'OWN', 'RENT']], unknownCategory: 'refused' });
      expect(m.descriptor.inputs.find((i) => i.name === 'term')).toMatchObject({ size: 2, categories: [['36', '60']] });
      expect(m.descriptor.inputs.find((i) => i.name === 'income')).toEqual({ name: 'income', size: 1 });
      // One constraint per category instead of a range check.
      expect(m.circuit.plan[0].formula).toMatch(/10 x 1 \(one-hot\)/);
      const setup = await setupModel(m);
      const applicant = { income: 52000, debt: 9000, age: 41, home_ownership: rows[3][3], purpose: rows[3][4], term: rows[3][5] };
      const named = Object.fromEntries(Object.keys(applicant).map((k, i) => [k, rows[3][i]]));
      const { bundle, receipt } = await proveModel(m, setup, named);
      const v = await verifyBundle(bundle);
      expect(v.valid).toBe(true);
      const ref = runReference(m.quantized, parseInput(named, m.ir));
      expect(v.outputs!.integers).toEqual(ref.output.map(String));
      expect(m.ir.labels![Number(ref.decision[0])]).toBe(labels![3]);
      // The commitment covers the one-hot features: the receipt lists them (at scale 2^12).
      const one = String(2 ** 12);
      expect(receipt!.features.slice(3, 6)).toEqual(['MORTGAGE', 'OWN', 'RENT'].map((k) => (k === rows[3][3] ? one : '0')));
      // A verifier sees the mapping: any edit of it is a different model commitment.
      const edited = structuredClone(bundle);
      (edited.model.inputs[3].categories as string[][])[0].reverse();
      const bad = await verifyBundle(edited);
      expect(bad.valid).toBe(false);
      // The REST check reads the same descriptor.
      expect(checkInput(named, bundle.model)).toEqual(ref.input);
      expect(applicant.income).toBe(52000);
    });

    it('an unknown category, a null category or a missing number without an imputer is an error naming the column, never the value', async () => {
      const { ir } = await loadModel(file('credit_categorical'));
      const row = { income: 52000, debt: 9000, age: 41, home_ownership: 'RENT', purpose: 'car', term: 36 };
      expect(parseInput(row, ir)).toHaveLength(13);
      const cases: [Record<string, unknown>, string][] = [
        [{ ...row, home_ownership: 'CASTLE-owner-7741' }, 'home_ownership'],
        [{ ...row, purpose: 'rent' }, 'purpose'],
        [{ ...row, term: 48 }, 'term'],
        [{ ...row, term: 36.5 }, 'term'],
        [{ ...row, home_ownership: null }, 'home_ownership'],
        [{ ...row, income: null }, 'income'],
        [{ ...row, income: 'SECRET-52000' }, 'income'],
      ];
      for (const [input, field] of cases) {
        let err: unknown;
        try {
          parseInput(input, ir);
        } catch (e) {
          err = e;
        }
        expect(err, JSON.stringify(input)).toMatchObject({ code: 'INPUT_VALUE', field });
        const msg = (err as Error).message;
        expect(msg).not.toMatch(/CASTLE|7741|SECRET|52000|rent\b|48|36\.5/);
      }
      expect(() => parseInput({ ...row, home_ownership: 'CASTLE' }, ir)).toThrow(/not one of the 3 categories/);
      expect(() => parseInput({ ...row, income: null }, ir)).toThrow(/imputes no value/);
      // A flat array takes one value per column, a category as its string.
      expect(Array.from(parseInput([52000, 9000, 41, 'OWN', 'medical', 60], ir))).toEqual([52000, 9000, 41, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1]);
    });

    it('credit_imputer: onnxruntime-node given NaN for a missing value agrees with the row imputed before the model; the descriptor holds the imputed values', async () => {
      const { ir } = await loadModel(file('credit_imputer'));
      expect(ir.inputs[0].missing).toHaveLength(4);
      const { rows, want } = fixture('credit_imputer', ir);
      let missing = 0;
      for (const [r, row] of rows.entries()) {
        const withNaN = Float64Array.from(row, (v) => (v === null ? Number.NaN : (v as number)));
        missing += withNaN.filter(Number.isNaN).length;
        const node = await runOnnxRuntime(file('credit_imputer'), withNaN, ir);
        const imputed = evalFloat(ir, parseInput(row, ir)).output;
        expect(Math.abs(node[0] - want[r][0])).toBeLessThan(1e-4);
        expect(Math.abs(imputed[0] - node[0])).toBeLessThan(1e-4);
      }
      expect(missing).toBeGreaterThanOrEqual(8);
      const m = await compileModel(file('credit_imputer'), {
        calibration: rows.map((r) => parseInput(r, ir)),
        settings: { scaleBits: 12, bits: 32 },
        fidelity: false,
      });
      expect(m.descriptor.inputs[0].missing).toEqual(ir.inputs[0].missing);
    });

    it('reads CSV with categories as strings and an empty cell as a missing value', async () => {
      const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-ml-'));
      const { ir } = await loadModel(file('credit_categorical'));
      await writeFile(path.join(dir, 'cat.csv'), 'income,debt,age,home_ownership,purpose,term\n52000,9000,41,OWN,car,60\n');
      const { rows } = await readInputRows(path.join(dir, 'cat.csv'), ir);
      expect(Array.from(rows[0])).toEqual([52000, 9000, 41, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1]);
      await writeFile(path.join(dir, 'unknown.csv'), 'income,debt,age,home_ownership,purpose,term\n52000,9000,41,CASTLE,car,60\n');
      await expect(readInputRows(path.join(dir, 'unknown.csv'), ir)).rejects.toMatchObject({
        code: 'INPUT_VALUE',
        field: 'home_ownership',
        message: expect.not.stringMatching(/CASTLE/),
      });
      const imp = (await loadModel(file('credit_imputer'))).ir;
      await writeFile(path.join(dir, 'imp.json'), JSON.stringify([[50000, null, 30, 2]]));
      const j = await readInputRows(path.join(dir, 'imp.json'), imp);
      expect(j.rows[0][1]).toBe(imp.inputs[0].missing![1]);
    });

    it('calibration and test sets share one CSV reader: name[i] columns for a vector input, a label column dropped, an integer category written 36.0', async () => {
      const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-ml-'));
      const imp = (await loadModel(file('credit_imputer'))).ir;
      await writeFile(path.join(dir, 'vec.csv'), 'input[0],input[1],input[2],input[3]\n50000,,30,2\n61000,12000,44,3\n');
      const vec = await readInputRows(path.join(dir, 'vec.csv'), imp);
      expect(vec.rows).toHaveLength(2);
      expect(vec.rows[0][1]).toBe(imp.inputs[0].missing![1]);
      expect(Array.from(vec.rows[1])).toEqual([61000, 12000, 44, 3]);
      expect((await readTestSet(path.join(dir, 'vec.csv'), imp)).rows).toEqual(vec.rows);

      const { ir } = await loadModel(file('credit_categorical'));
      const header = 'income,debt,age,home_ownership,purpose,term';
      await writeFile(path.join(dir, 'cat.csv'), `${header},approved\n52000,9000,41,OWN,car,60.0,1\n`);
      // Without naming it, the label column is refused, and the message says how to name it.
      await expect(readInputRows(path.join(dir, 'cat.csv'), ir, { labelHint: 'the "labelColumn" field' })).rejects.toMatchObject({
        code: 'INPUT_SHAPE',
        field: 'approved',
        message: expect.stringMatching(/unknown column "approved".*"labelColumn" field/),
      });
      const labelled = await readInputRows(path.join(dir, 'cat.csv'), ir, { labelColumn: 'approved' });
      expect(Array.from(labelled.rows[0])).toEqual([52000, 9000, 41, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1]);
      expect(labelled.labels).toEqual(['1']);
      await expect(readInputRows(path.join(dir, 'cat.csv'), ir, { labelColumn: 'label' })).rejects.toMatchObject({ code: 'INPUT_SHAPE', field: 'labelColumn' });
      // A number that is not an integer category is still refused, naming the column only.
      await writeFile(path.join(dir, 'frac.csv'), `${header}\n52000,9000,41,OWN,car,60.5\n`);
      await expect(readInputRows(path.join(dir, 'frac.csv'), ir)).rejects.toMatchObject({
        code: 'INPUT_VALUE',
        field: 'term',
        message: expect.not.stringMatching(/60\.5/),
      });
    });

    it('a table of string columns (Gather per column, OneHotEncoder with a dropped category) and a LabelEncoder to floats lower exactly against onnxruntime-node', async () => {
      const ML = 'ai.onnx.ml';
      const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-ml-'));
      const f = path.join(dir, 'table.onnx');
      await writeFile(
        f,
        buildOnnx({
          inputs: [
            { name: 'num', dims: ['N', 1] },
            { name: 'cats', dims: ['N', 2], type: 'string' },
          ],
          output: { name: 'y', dims: ['N', 1] },
          initializers: [
            { name: 'i0', dims: [1], data: [0], type: 'int64' },
            { name: 'i1', dims: [1], data: [1], type: 'int64' },
            { name: 'keep', dims: [2], data: [1, 2], type: 'int64' },
          ],
          nodes: [
            { op: 'Gather', name: 'g0', inputs: ['cats', 'i0'], outputs: ['c0'], attrs: { axis: 1 } },
            { op: 'OneHotEncoder', domain: ML, name: 'ohe0', inputs: ['c0'], outputs: ['o0'], attrs: { cats_strings: { strings: ['a', 'b', 'c'] }, zeros: 0 } },
            // drop='first': the first category's column is left out.
            { op: 'Gather', name: 'drop0', inputs: ['o0', 'keep'], outputs: ['d0'], attrs: { axis: -1 } },
            { op: 'Reshape', name: 'r0', inputs: ['d0', 'shape2'], outputs: ['e0'] },
            { op: 'Gather', name: 'g1', inputs: ['cats', 'i1'], outputs: ['c1'], attrs: { axis: 1 } },
            {
              op: 'LabelEncoder',
              domain: ML,
              name: 'le1',
              inputs: ['c1'],
              outputs: ['e1'],
              attrs: { keys_strings: { strings: ['low', 'mid', 'high'] }, values_floats: { floats: [0.5, 1.5, -2] } },
            },
            { op: 'Concat', name: 'all', inputs: ['num', 'e0', 'e1'], outputs: ['x'], attrs: { axis: 1 } },
            {
              op: 'LinearRegressor',
              domain: ML,
              name: 'lin',
              inputs: ['x'],
              outputs: ['y'],
              attrs: { coefficients: { floats: [0.25, 1, -3, 2] }, intercepts: { floats: [0.5] }, targets: 1 },
            },
          ],
        }),
      );
      // The Reshape target as a constant: built above by name, supplied here.
      const { onnx } = await import('../../src/model/onnx/file.ts');
      const proto = onnx.ModelProto.decode(await readFile(f));
      proto.graph!.initializer!.push(onnx.TensorProto.create({ name: 'shape2', dims: [2], dataType: onnx.TensorProto.DataType.INT64, int64Data: [-1, 2] }));
      await writeFile(f, onnx.ModelProto.encode(proto).finish());
      const { ir } = await loadModel(f);
      expect(ir.inputs[1].categories).toEqual([
        ['a', 'b', 'c'],
        ['low', 'mid', 'high'],
      ]);
      expect(ir.inputs[1].size).toBe(6);
      for (const row of [
        [1.5, 'a', 'low'],
        [-2, 'c', 'high'],
        [0.25, 'b', 'mid'],
      ]) {
        const x = parseInput({ num: row[0], cats: [row[1], row[2]] }, ir);
        const want = await runOnnxRuntime(f, x, ir);
        expect(Math.abs(evalFloat(ir, x).output[0] - want[0]), row.join()).toBeLessThan(1e-5);
      }
    });

    it('an Imputer replacing a number (not NaN) is refused by name, with the reason', async () => {
      const ML = 'ai.onnx.ml';
      const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-ml-'));
      const f = path.join(dir, 'imp0.onnx');
      await writeFile(
        f,
        buildOnnx({
          inputs: [{ name: 'x', dims: ['N', 2] }],
          output: { name: 'y', dims: ['N', 2] },
          nodes: [
            {
              op: 'Imputer',
              domain: ML,
              name: 'imp',
              inputs: ['x'],
              outputs: ['y'],
              attrs: { imputed_value_floats: { floats: [1, 2] }, replaced_value_float: { float: -1 } },
            },
          ],
        }),
      );
      await expect(loadModel(f)).rejects.toMatchObject({ code: 'MODEL_UNSUPPORTED_OP', field: 'imp', message: expect.stringMatching(/Imputer.*only NaN/) });
    });
  });

  it('labels given by the user win over the ONNX class labels', async () => {
    const probe = (await loadModel(file('logreg_binary'))).ir;
    const { rows } = fixture('logreg_binary', probe);
    const m = await compileModel(file('logreg_binary'), {
      calibration: rows.map((r) => parseInput(r, probe)),
      labels: ['decline', 'approve'],
      fidelity: false,
    });
    expect(m.descriptor.labels).toEqual(['decline', 'approve']);
  });

  it('refuses a Binarizer with a NaN threshold and an RBF SVM at once, naming each op and node (the Normalizer(L2) before them and the TreeEnsembleClassifier after them are supported)', async () => {
    const err = await loadModel(file('refused_trees')).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'MODEL_UNSUPPORTED_OP', field: 'binarize' });
    const msg = (err as Error).message;
    expect(msg).toMatch(/at 2 nodes/);
    expect(msg).toMatch(/"ai\.onnx\.ml\.SVMRegressor" at node "svr_rbf" \(kernel RBF is not linear/);
    expect(msg).toMatch(/"ai\.onnx\.ml\.Binarizer" at node "binarize" \(threshold NaN is not a finite number\)/);
    expect(msg).not.toMatch(/Normalizer" at node/);
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
    const rows = [
      [0.3, -1, 2, 0.5],
      [-2, 0.1, 0.2, -0.7],
      [1, 1, -1, 1],
    ];

    it.each(['NONE', 'LOGISTIC'])(
      'LinearClassifier with one coefficient row and two labels, %s: a sigmoid head on the row, column 1 of the scores',
      async (post) => {
        const f = await write(`one-row-${post}`, [
          {
            op: 'LinearClassifier',
            domain: ML,
            name: 'lc',
            inputs: ['x'],
            outputs: ['label', 'scores'],
            attrs: { coefficients: { floats: W }, intercepts: { floats: [0.25] }, classlabels_ints: [3, 7], post_transform: { string: post } },
          },
        ]);
        const { ir } = await loadModel(f);
        expect([ir.head, ir.outputSize, ir.labels, ir.onnxOutput?.pick]).toEqual(['sigmoid', 1, ['3', '7'], [1]]);
        for (const row of rows) {
          const x = Float64Array.from(row);
          const want = await runOnnxRuntime(f, x, ir);
          const got = evalFloat(ir, x).output;
          expect(Math.abs(got[0] - want[0])).toBeLessThan(1e-5);
        }
      },
    );

    // Rows with mixed signs, an all-zero row (left as it is), negative and zero maxima (onnxruntime's MAX divides by the largest value, signed).
    const normRows = [...rows, [0, 0, 0, 0], [-1, -2, -4, -0.5], [-1, 0, 0, -3], [0.5, 0, 0, 0]];

    it.each(['L1', 'L2', 'MAX', undefined])(
      "Normalizer(%s) after a Scaler: a normalize layer whose float evaluation is onnxruntime-node's, zero rows and negative maxima included",
      async (norm) => {
        const f = await write(
          `norm-${norm}`,
          [
            { op: 'Scaler', domain: ML, name: 'sc', inputs: ['x'], outputs: ['s'], attrs: { scale: { floats: [2] }, offset: { floats: [0.5] } } },
            { op: 'Normalizer', domain: ML, name: 'nm', inputs: ['s'], outputs: ['scores'], attrs: norm ? { norm: { string: norm } } : {} },
          ],
          { name: 'scores', dims: ['N', 4] },
        );
        const { ir } = await loadModel(f);
        expect(ir.layers.map((l) => l.kind)).toEqual(['sparse', 'normalize']);
        // The ONNX default norm is MAX.
        expect(ir.layers[1]).toMatchObject({ norm: norm ?? 'MAX', size: 4, name: 'nm' });
        for (const row of [...normRows, [0.5, 0.5, 0.5, 0.5], [0.25, 0.5, 0.5, 0.5]]) {
          const x = Float64Array.from(row);
          const want = await runOnnxRuntime(f, x, ir);
          const got = evalFloat(ir, x).output;
          for (let i = 0; i < 4; i++) expect(Math.abs(got[i] - want[i]), `${row} [${i}]`).toBeLessThan(1e-5);
        }
      },
    );

    it('Binarizer on the inputs, then a LinearRegressor: y = 1 where x > threshold (not at it), as onnxruntime-node', async () => {
      const f = await write(
        'bin',
        [
          { op: 'Binarizer', domain: ML, name: 'bin', inputs: ['x'], outputs: ['b'], attrs: { threshold: { float: 0.5 } } },
          { op: 'LinearRegressor', domain: ML, name: 'lin', inputs: ['b'], outputs: ['scores'], attrs: { coefficients: { floats: [1, 2, 4, 8] }, targets: 1 } },
        ],
        { name: 'scores', dims: ['N', 1] },
      );
      const { ir } = await loadModel(f);
      expect(ir.layers.map((l) => l.kind)).toEqual(['binarize', 'dense']);
      for (const row of [...normRows, [0.5, 0.5001, 0.4999, 2], [0.5, 0.5, 0.5, 0.5]]) {
        const x = Float64Array.from(row);
        const want = await runOnnxRuntime(f, x, ir);
        expect(evalFloat(ir, x).output[0], `${row}`).toBe(want[0]);
      }
      // Without the attribute the threshold is 0.
      const d = await write('bin0', [{ op: 'Binarizer', domain: ML, name: 'bin0', inputs: ['x'], outputs: ['scores'] }], { name: 'scores', dims: ['N', 4] });
      const bin0 = (await loadModel(d)).ir;
      expect(Array.from(evalFloat(bin0, Float64Array.of(0, 1e-3, -1, 2)).output)).toEqual(
        Array.from(await runOnnxRuntime(d, Float64Array.of(0, 1e-3, -1, 2), bin0)),
      );
    });

    it('a Binarizer or Normalizer on a branch of a DAG (its input read again later) acts on the branch only', async () => {
      for (const op of ['Binarizer', 'Normalizer']) {
        const f = await write(
          `dag-${op}`,
          [
            { op, domain: ML, name: 'branch', inputs: ['x'], outputs: ['b'], attrs: op === 'Normalizer' ? { norm: { string: 'L2' } } : {} },
            { op: 'Add', name: 'residual', inputs: ['b', 'x'], outputs: ['scores'] },
          ],
          { name: 'scores', dims: ['N', 4] },
        );
        const { ir } = await loadModel(f);
        expect(ir.layers.some((l) => (l.kind === 'binarize' || l.kind === 'normalize') && l.span !== undefined)).toBe(true);
        const x = Float64Array.of(0.5, -1.25, 2, 0);
        const want = await runOnnxRuntime(f, x, ir);
        evalFloat(ir, x).output.forEach((v, i) => expect(Math.abs(v - want[i]), `${op}[${i}]`).toBeLessThan(1e-6));
      }
    });

    it("a Normalizer over a classifier's scores other than L1 after a binary logistic one is refused naming the node; an unknown norm by name", async () => {
      const soft = await write(
        'softmax-l2',
        [
          {
            op: 'LinearClassifier',
            domain: ML,
            name: 'lc',
            inputs: ['x'],
            outputs: ['label', 'p'],
            attrs: { coefficients: { floats: [...W, ...W, ...W] }, classlabels_ints: [0, 1, 2], post_transform: { string: 'SOFTMAX' } },
          },
          { op: 'Normalizer', domain: ML, name: 'l2', inputs: ['p'], outputs: ['scores'], attrs: { norm: { string: 'L2' } } },
        ],
        { name: 'scores', dims: ['N', 3] },
      );
      await expect(loadModel(soft)).rejects.toMatchObject({
        code: 'MODEL_UNSUPPORTED_GRAPH',
        field: 'l2',
        message: expect.stringMatching(/L2 normalisation of a classifier's scores is not supported/),
      });
      const l3 = await write('l3', [{ op: 'Normalizer', domain: ML, name: 'l3', inputs: ['x'], outputs: ['scores'], attrs: { norm: { string: 'L3' } } }], {
        name: 'scores',
        dims: ['N', 4],
      });
      await expect(loadModel(l3)).rejects.toMatchObject({
        code: 'MODEL_UNSUPPORTED_OP',
        field: 'l3',
        message: expect.stringMatching(/norm L3 is not one of MAX, L1, L2/),
      });
    });

    it('a column prefix that doubles its width per Concat is refused at the width limit, before it is built', async () => {
      const nodes: NodeSpec[] = [{ op: 'ArrayFeatureExtractor', domain: ML, name: 'pick', inputs: ['x', 'cols'], outputs: ['c0'] }];
      for (let i = 0; i < 30; i++) nodes.push({ op: 'Concat', name: `dup${i}`, inputs: [`c${i}`, `c${i}`], outputs: [`c${i + 1}`], attrs: { axis: 1 } });
      nodes.push({ op: 'Concat', name: 'both', inputs: ['c30', 'x'], outputs: ['scores'], attrs: { axis: 1 } });
      const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-ml-'));
      const f = path.join(dir, 'doubling.onnx');
      await writeFile(
        f,
        buildOnnx({
          inputs: [{ name: 'x', dims: ['N', 4] }],
          output: { name: 'scores', dims: ['N', 8] },
          initializers: [{ name: 'cols', dims: [4], data: [0, 1, 2, 3], type: 'int64' }],
          nodes,
        }),
      );
      await expect(loadModel(f)).rejects.toMatchObject({ code: 'MODEL_TOO_LARGE', message: expect.stringMatching(/maxLayerWidth/) });
    });

    it('one-vs-rest LOGISTIC over three classes is refused; an Imputer after a classifier is refused by name', async () => {
      const ovr = await write(
        'ovr',
        [
          {
            op: 'LinearClassifier',
            domain: ML,
            name: 'ovr',
            inputs: ['x'],
            outputs: ['label', 'scores'],
            attrs: { coefficients: { floats: [...W, ...W, ...W] }, classlabels_ints: [0, 1, 2], post_transform: { string: 'LOGISTIC' } },
          },
        ],
        { name: 'scores', dims: ['N', 3] },
      );
      await expect(loadModel(ovr)).rejects.toMatchObject({ code: 'MODEL_UNSUPPORTED_GRAPH', field: 'ovr', message: expect.stringMatching(/one-vs-rest/) });
      const imp = await write(
        'imputer',
        [
          { op: 'LinearRegressor', domain: ML, name: 'lin', inputs: ['x'], outputs: ['z'], attrs: { coefficients: { floats: [...W, ...W] }, targets: 2 } },
          {
            op: 'Imputer',
            domain: ML,
            name: 'imp',
            inputs: ['z'],
            outputs: ['scores'],
            attrs: { imputed_value_floats: { floats: [0, 0] }, replaced_value_float: { float: Number.NaN } },
          },
        ],
        { name: 'scores', dims: ['N', 2] },
      );
      await expect(loadModel(imp)).rejects.toMatchObject({
        code: 'MODEL_UNSUPPORTED_GRAPH',
        field: 'imp',
        message: expect.stringMatching(/Imputer is supported only on the graph inputs' columns/),
      });
    });
  });
});
