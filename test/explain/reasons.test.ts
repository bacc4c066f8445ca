import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { firstViolated, loadWitnessCalculator, readR1csConstraints, readSymbols } from '../../src/circuit/index.ts';
import type { ProofBundle } from '../../src/bundle/format.ts';
import { auditKey, compileModel, type CompiledModel, pickPtau, proveModel, setupModel } from '../../src/pipeline/index.ts';
import { descriptorOptions } from '../../src/verifier/descriptor-options.ts';
import type { CircuitSetup } from '../../src/prover/setup.ts';
import { loadModel, parseInput, runOnnxRuntime } from '../../src/model/index.ts';
import {
  estimateConstraints,
  explainFeatures,
  explainReference,
  explainValues,
  explainWidth,
  replaced,
  runQuantized,
  runReference,
  topKBits,
} from '../../src/quant/index.ts';
import { activationBits } from '../../src/fixed/settings.ts';
import { FIELD_ORDER } from '../../src/fixed/field.ts';
import { packValues } from '../../src/fixed/pack.ts';
import { verifyBundle } from '../../src/verifier/index.ts';
import { LOAN_APPLICANT, LOAN_BASELINE, LOAN_MODEL, REPO } from '../helpers/paths.ts';

const FIXTURES = path.join(REPO, 'test', 'fixtures', 'models');

async function loanRows(): Promise<Record<string, number>[]> {
  const text = await readFile(path.join(REPO, 'examples', 'loan', 'test-set.csv'), 'utf8');
  const [head, ...lines] = text.trim().split('\n');
  const cols = head.split(',');
  return lines.slice(0, 24).map((l) =>
    Object.fromEntries(
      l
        .split(',')
        .map((v, i) => [cols[i], Number(v)])
        .filter(([k]) => k !== 'approved'),
    ),
  );
}

describe('proven reasons and fairness on the loan model', () => {
  let m: CompiledModel;
  let bundle: ProofBundle;
  let applicant: Record<string, number>;

  let setup: CircuitSetup;

  beforeAll(async () => {
    applicant = JSON.parse(await readFile(LOAN_APPLICANT, 'utf8'));
    const ir = (await loadModel(LOAN_MODEL)).ir;
    m = await compileModel(LOAN_MODEL, {
      fidelity: false,
      explain: { reasons: 4, baseline: parseInput(LOAN_BASELINE, ir), protected: [{ name: 'age', values: [25, 60] }] },
    });
    setup = await setupModel(m);
    // proveModel checks that the circuit's public signals are the integer reference's, reasons and fairness included.
    bundle = (await proveModel(m, setup, applicant, { nonce: 11n })).bundle;
  });

  it('binds the settings in the descriptor and states the exact constraint count', async () => {
    expect(m.descriptor.explain).toMatchObject({ reasons: 4, protected: [{ feature: 'age', values: [25, 60] }] });
    expect(m.descriptor.explain!.features.map((f) => f.name)).toEqual(m.ir.inputs.map((i) => i.name));
    expect(m.descriptor.explain!.baseline).toEqual(Object.values(LOAN_BASELINE));
    // The estimate (before anything is quantized) and the generator's plan say the same count, and circom agrees.
    const planned = m.circuit.plan.reduce((a, p) => a + p.constraints, 0);
    expect(estimateConstraints(m.ir, m.settings, undefined, { explain: m.descriptor.explain }).total).toBe(planned);
    expect(m.compiled.constraints - planned).toBe(242); // the input commitment and the nonce
    // Another k is another model.
    const plain = await compileModel(LOAN_MODEL, { fidelity: false });
    expect(plain.modelId).not.toBe(m.modelId);
    expect(plain.circuit.source).not.toContain('explain.circom');
  });

  it('verifies, and shows the reasons and fairness the integer reference computes', async () => {
    const v = await verifyBundle(bundle);
    expect(v).toMatchObject({ valid: true });
    const ref = runReference(m.quantized, parseInput(applicant, m.ir));
    const ex = explainReference(m.quantized, m.explain!, ref.input);
    expect(v.outputs!.reasons!.map((r) => r.index)).toEqual(ex.reasons.map((r) => r.feature));
    expect(v.outputs!.reasons!.map((r) => r.contributionInteger)).toEqual(ex.reasons.map((r) => r.contribution.toString()));
    expect(v.outputs!.reasons!.map((r) => r.feature)).toEqual(ex.reasons.map((r) => m.ir.inputs[r.feature].name));
    expect(v.outputs!.fairness).toEqual([{ feature: 'age', unchanged: ex.fair[0] }]);
    // The contributions are sorted, most lowering first.
    const c = v.outputs!.reasons!.map((r) => r.contribution);
    expect([...c].sort((a, b) => a - b)).toEqual(c);
  });

  it('refuses every edit of the reasons or fairness: the copy, the public signals, the settings', async () => {
    const edits: [string, (b: ProofBundle) => void][] = [
      ['a reason renamed', (b) => (b.outputs.reasons![0].feature = 'credit_score')],
      ['two reasons swapped', (b) => ([b.outputs.reasons![0], b.outputs.reasons![1]] = [b.outputs.reasons![1], b.outputs.reasons![0]])],
      ['a contribution', (b) => (b.outputs.reasons![0].contribution += 0.5)],
      ['a fairness bit', (b) => (b.outputs.fairness![0].unchanged = !b.outputs.fairness![0].unchanged)],
      [
        'the packed explanation signal',
        (b) => (b.publicSignals[b.publicSignals.length - 2] = (BigInt(b.publicSignals[b.publicSignals.length - 2]) + 1n).toString()),
      ],
      ['a feature name in the descriptor', (b) => (b.model.explain!.features[0].name = 'zip_code')],
      ['the baseline', (b) => (b.model.explain!.baseline[3] = 0)],
      ['the protected values', (b) => (b.model.explain!.protected[0].values = [30])],
    ];
    for (const [what, edit] of edits) {
      const b = structuredClone(bundle);
      edit(b);
      expect((await verifyBundle(b)).valid, what).toBe(false);
    }
    expect(bundle.signalNames.filter((n) => n.startsWith('packedExplain'))).toHaveLength(1);
  });

  it("an audit replays the descriptor's reasons and fairness settings and finds the key encodes them", async () => {
    const ptau = await pickPtau(m);
    const report = await auditKey({
      model: LOAN_MODEL,
      ...descriptorOptions(bundle.model, 'bundle'),
      vkey: setup.vkey,
      zkey: setup.zkey,
      ptau: ptau.file,
      descriptor: bundle.model,
    });
    expect(report.broken).toBeNull();
    expect(report.ok).toBe(true);
    // Another baseline in the descriptor: another circuit, and the audit names the broken link.
    const edited = structuredClone(bundle.model);
    edited.explain!.baseline[0] = 50;
    const other = await auditKey({ model: LOAN_MODEL, ...descriptorOptions(edited, 'edited'), vkey: setup.vkey, zkey: setup.zkey, ptau: ptau.file });
    expect(other.ok).toBe(false);
  });

  it('a witness selecting another reason (one selected and one unselected feature swapped) fails the constraint check', async () => {
    const calc = await loadWitnessCalculator(m.compiled.wasm);
    const ref = runReference(m.quantized, parseInput(applicant, m.ir));
    const w = await calc.witness({ nonce: 11n, x: ref.input, salt: 3n });
    const constraints = await readR1csConstraints(m.compiled.r1cs);
    const sym = await readSymbols(m.compiled.sym);
    expect(firstViolated(constraints, w)).toBe(-1);
    const n = m.explain!.features.length;
    const k = m.explain!.reasons;
    const B = topKBits(n, activationBits(m.settings));
    const c = Array.from({ length: n }, (_, i) => {
      const v = w[sym.get(`main.reasons.c[${i}]`) ?? sym.get(`main.contrib[${i}]`)!];
      return v > FIELD_ORDER / 2n ? v - FIELD_ORDER : v;
    });
    const ex = explainReference(m.quantized, m.explain!, ref.input);
    expect(c[ex.reasons[0].feature]).toBe(ex.reasons[0].contribution);

    /** The witness with every TopK signal (and the packed public values) recomputed honestly for the selection `picked`. */
    const withSelection = (picked: number[]) => {
      const t = [...w];
      const set = (name: string, v: bigint) => {
        const at = sym.get(name);
        if (at !== undefined) t[at] = ((v % FIELD_ORDER) + FIELD_ORDER) % FIELD_ORDER;
      };
      const key = (i: number) => c[i] * BigInt(n) + BigInt(i);
      const bits = (name: string, v: bigint) => {
        const u = ((v % FIELD_ORDER) + FIELD_ORDER) % FIELD_ORDER;
        for (let b = 0; b < B; b++) set(`${name}.bits[${b}]`, (u >> BigInt(b)) & 1n);
        set(`${name}.in`, v);
      };
      picked.forEach((f, j) => {
        for (let i = 0; i < n; i++) {
          set(`main.reasons.sel[${j}][${i}]`, i === f ? 1n : 0n);
          set(`main.reasons.prod[${j}][${i}]`, i === f ? key(i) : 0n);
        }
        set(`main.reasons.skey[${j}]`, key(f));
        set(`main.reasons.idx[${j}]`, BigInt(f));
        set(`main.reasons.val[${j}]`, c[f]);
      });
      for (let j = 0; j + 1 < k; j++) bits(`main.reasons.inc[${j}]`, key(picked[j + 1]) - key(picked[j]) - 1n);
      const last = key(picked[k - 1]);
      for (let i = 0; i < n; i++) {
        const gap = picked.includes(i) ? 0n : key(i) - last - 1n;
        set(`main.reasons.gap[${i}]`, gap);
        bits(`main.reasons.above[${i}]`, gap);
      }
      const values = explainValues({ reasons: picked.map((f) => ({ feature: f, contribution: c[f] })), fair: ex.fair });
      values.forEach((v, i) => {
        set(`main.explained[${i}]`, v);
        set(`main.packEx.in[${i}]`, v);
      });
      packValues(values, explainWidth(activationBits(m.settings))).forEach((v, e) => {
        set(`main.packEx.out[${e}]`, v);
        set(`main.packedExplain[${e}]`, v);
      });
      return t;
    };
    const honest = ex.reasons.map((r) => r.feature);
    // The recomputation is right: the honest selection satisfies every constraint.
    expect(firstViolated(constraints, withSelection(honest))).toBe(-1);
    const unselected = Array.from({ length: n }, (_, i) => i).filter((i) => !honest.includes(i));
    for (const out of [0, k - 1]) {
      for (const inn of [unselected[0], unselected[unselected.length - 1]]) {
        const cheat = honest.map((f, j) => (j === out ? inn : f)).sort((a, b) => (key(c, a, n) < key(c, b, n) ? -1 : 1));
        expect(firstViolated(constraints, withSelection(cheat)), `swap ${honest[out]} for ${inn}`).toBeGreaterThanOrEqual(0);
      }
    }
  });

  it('selects the same reasons as onnxruntime in floating point, with the feature set to its baseline, on 24 applicants', async () => {
    const rows = await loanRows();
    const report = await compareWithFloat(m, LOAN_MODEL, rows);
    expect(report.compared).toBe(24);
    expect(report.differences, report.detail.join('\n')).toBe(0);
    expect(report.saturated).toBeLessThan(report.evaluations / 4);
  });
});

const key = (c: bigint[], i: number, n: number) => c[i] * BigInt(n) + BigInt(i);

/**
 * Reasons of the integer model (what the circuit proves, as `proveModel` checks) against
 * onnxruntime: each feature's float contribution is the float score minus the float score
 * with that feature (all its one-hot slots) at the baseline, in the score the circuit uses
 * (the logit for a sigmoid head, the decided class's output for argmax). The proven top k
 * must be the float top k, except for a quantization tie: two features whose float
 * contributions differ by less than the quantization error of both (each the error of the
 * integer score plus that of the integer score with the feature at its baseline, measured).
 */
async function compareWithFloat(m: CompiledModel, file: string, rows: unknown[]) {
  const spec = m.explain!;
  const base = m.descriptor.explain!.baseline;
  const scale = 2 ** m.settings.scaleBits;
  const score = (out: ArrayLike<number>, d: number) => {
    if (m.ir.head === 'sigmoid') {
      // onnxruntime's float32 probability hides the logit where it saturates: no float score there.
      const p = out[0];
      return p < 1e-6 || p > 1 - 1e-6 ? NaN : Math.log(p / (1 - p));
    }
    return out[d];
  };
  let compared = 0;
  let differences = 0;
  let maxError = 0;
  let saturated = 0;
  const detail: string[] = [];
  for (const [r, row] of rows.entries()) {
    const x = parseInput(row, m.ir);
    const ref = runReference(m.quantized, x);
    const proven = explainReference(m.quantized, spec, ref.input);
    const d = m.ir.head === 'sigmoid' ? 0 : Number(ref.decision[0]);
    const s = score(await runOnnxRuntime(file, x, m.ir), d);
    const err0 = Math.abs(Number(ref.output[d]) / scale - s);
    const cf: number[] = [];
    const err: number[] = [];
    for (const f of spec.features) {
      const xo = Float64Array.from(x);
      for (let j = 0; j < f.size; j++) xo[f.start + j] = base[f.start + j];
      const so = score(await runOnnxRuntime(file, xo, m.ir), d);
      cf.push(s - so);
      const occ = runQuantized(m.quantized, replaced(ref.input, f, spec.baseline.slice(f.start, f.start + f.size)));
      err.push(err0 + Math.abs(Number(occ.output[d]) / scale - so));
    }
    // A saturated float score ranks nothing: any order is a tie there.
    for (let i = 0; i < err.length; i++) if (Number.isNaN(err[i])) err[i] = Infinity;
    saturated += err.filter((e) => e === Infinity).length;
    maxError = Math.max(maxError, ...err.filter(Number.isFinite));
    compared++;
    // The proven selection must be a float top k in float order: every proven reason at most
    // the next one and every unselected feature, up to a quantization tie (and a saturated
    // float score, whose contribution is unknown, ties with anything).
    const sel = proven.reasons.map((e) => e.feature);
    const above = (a: number, b: number) => cf[a] > cf[b] + err[a] + err[b];
    for (let j = 0; j < sel.length; j++) {
      const later = [...(j + 1 < sel.length ? [sel[j + 1]] : []), ...spec.features.map((_, i) => i).filter((i) => !sel.includes(i))];
      for (const b of later) {
        if (above(sel[j], b)) {
          differences++;
          detail.push(`row ${r} reason ${j + 1}: proven ${spec.features[sel[j]].name} (${cf[sel[j]]}) above ${spec.features[b].name} (${cf[b]}) in float`);
        }
      }
    }
  }
  return { compared, differences, detail, maxError, saturated, evaluations: compared * spec.features.length };
}

describe.each([
  // A logistic pipeline with one-hot columns: each categorical column is one feature.
  { name: 'sklearn/credit_categorical', settings: { scaleBits: 12, bits: 32 } },
  { name: 'sklearn/mlp_binary', settings: undefined },
  { name: 'trees/xgb_credit', settings: undefined },
  { name: 'trees/lgbm_credit', settings: undefined },
  // A random forest with an argmax head: the score is the decided class's.
  { name: 'trees/rf_zipmap', settings: undefined },
])('reasons of $name', ({ name, settings }) => {
  it('are proven, and equal the float reasons from onnxruntime on its 20 applicants (baseline: the calibration mean)', async () => {
    const file = path.join(FIXTURES, `${name}.onnx`);
    const rows: unknown[][] = JSON.parse(await readFile(path.join(FIXTURES, `${name}.inputs.json`), 'utf8')).rows;
    const probe = (await loadModel(file)).ir;
    const calibration = rows.map((r) => parseInput(r, probe));
    const m = await compileModel(file, { calibration, settings, fidelity: false, explain: { reasons: 3 } });
    expect(m.descriptor.explain!.features.length).toBeLessThanOrEqual(probe.inputSize);
    if (probe.inputs.some((i) => i.categories)) {
      // A categorical column is one feature: its one-hot slots move together, and its baseline is its most frequent category.
      const cat = m.descriptor.explain!.features.find((f) => f.size > 1)!;
      expect(m.descriptor.explain!.baseline.slice(cat.start, cat.start + cat.size).filter((v) => v === 1)).toHaveLength(1);
    }
    // The explanation's stated constraint count is what circom compiles on top of the plain model.
    const plain = await compileModel(file, { calibration, settings, fidelity: false });
    expect(m.compiled.constraints - plain.compiled.constraints).toBe(m.circuit.plan.find((p) => p.kind === 'explain')!.constraints);
    const report = await compareWithFloat(m, file, rows);
    expect(report.compared).toBe(20);
    expect(report.differences, report.detail.join('\n')).toBe(0);
    // Quantization moves a contribution by little against the scores' range (the logit, or a class score).
    expect(report.maxError).toBeLessThan(0.5);
    expect(report.saturated).toBeLessThan(report.evaluations / 4);
    // One proof: the circuit's reasons are the integer reference's (proveModel checks it), and it verifies.
    const setup = await setupModel(m);
    const { bundle } = await proveModel(m, setup, rows[0]);
    const v = await verifyBundle(bundle);
    expect(v.valid).toBe(true);
    expect(v.outputs!.reasons).toHaveLength(3);
  });
});

describe('reasons and fairness settings', () => {
  it('refuses what cannot be proven, naming the field', async () => {
    const ir = (await loadModel(LOAN_MODEL)).ir;
    const bad: [Parameters<typeof compileModel>[1], string][] = [
      [{ explain: { reasons: 4 } }, 'baseline'],
      [{ explain: { reasons: 9, baseline: parseInput(LOAN_BASELINE, ir) } }, 'reasons'],
      [{ explain: { protected: [{ name: 'zip' }] } }, 'protected'],
      [{ explain: { protected: [{ name: 'age' }] } }, 'protected'],
      [{ explain: { reasons: 2, baseline: parseInput({ ...LOAN_BASELINE, income: 1e9 }, ir) } }, 'baseline'],
      [{ explain: { protected: [{ name: 'age', values: [1e9] }] } }, 'protected'],
    ];
    for (const [opts, field] of bad) await expect(compileModel(LOAN_MODEL, { ...opts, fidelity: false }), field).rejects.toMatchObject({ field });
    // Settings replayed from an edited descriptor: refused, naming the field, before any circuit.
    const good = { reasons: 2, features: explainFeatures(ir.inputs), baseline: Object.values(LOAN_BASELINE), protected: [] };
    await expect(compileModel(LOAN_MODEL, { fidelity: false, explainSettings: { ...good, features: good.features.slice(1) } })).rejects.toMatchObject({
      field: 'explain.features',
    });
    await expect(compileModel(LOAN_MODEL, { fidelity: false, explainSettings: { ...good, reasons: 99 } })).rejects.toMatchObject({ field: 'reasons' });
  });

  it('leaves a model without them unchanged', async () => {
    const a = await compileModel(LOAN_MODEL, { fidelity: false });
    const b = await compileModel(LOAN_MODEL, { fidelity: false, explain: { reasons: 0, protected: [] } });
    expect(b.modelId).toBe(a.modelId);
    expect(b.descriptor).toEqual(a.descriptor);
    expect(b.explain).toBeUndefined();
  });

  it('the occluded copies replace exactly the feature', () => {
    expect(replaced([1n, 2n, 3n, 4n], { name: 'f', start: 1, size: 2 }, [7n, 8n])).toEqual([1n, 7n, 8n, 4n]);
  });
});

describe('reasons of a private model', () => {
  it('copy the model with the same committed parameters, and prove', async () => {
    const file = path.join(FIXTURES, 'sklearn', 'logreg_binary.onnx');
    const rows: unknown[][] = JSON.parse(await readFile(path.join(FIXTURES, 'sklearn', 'logreg_binary.inputs.json'), 'utf8')).rows;
    const probe = (await loadModel(file)).ir;
    const calibration = rows.map((r) => parseInput(r, probe));
    const m = await compileModel(file, {
      calibration,
      settings: { scaleBits: 12, bits: 32 },
      fidelity: false,
      visibility: 'private',
      blinding: 1234567890123456789n,
      explain: { reasons: 2 },
    });
    expect(m.descriptor.parameters?.visibility).toBe('private');
    // Every copy reads the one parameter witness: no parameter is a constant of the circuit.
    expect(m.circuit.source).toMatch(/occ0\.p <== params;/);
    const setup = await setupModel(m);
    const { bundle } = await proveModel(m, setup, rows[3]);
    const v = await verifyBundle(bundle);
    expect(v.valid).toBe(true);
    const ref = runReference(m.quantized, parseInput(rows[3], m.ir));
    expect(v.outputs!.reasons!.map((r) => r.index)).toEqual(explainReference(m.quantized, m.explain!, ref.input).reasons.map((r) => r.feature));
  });
});
