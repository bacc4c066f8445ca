// Per-feature input quantization: real credit models take raw units (an income in
// dollars) that the default fixed point cannot hold; calibration or declared ranges give
// each feature its own scale and width, the proof still refuses what does not fit, and
// the bounds are in the model descriptor a verifier sees.
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { isZkinferError } from '../../src/core/errors.ts';
import { handIr, rng, denseLayer } from '../helpers/ir.ts';
import { harness, witnessOutputs, expectMatches } from '../helpers/circuit.ts';
import { loadModel, runOnnxRuntime } from '../../src/model/index.ts';
import { compileLoaded, compileModel, proveModel, setupModel } from '../../src/pipeline/index.ts';
import { DEFAULT_SETTINGS, quantizeModel, runReference } from '../../src/quant/index.ts';
import { inputQuantFromRanges } from '../../src/fixed/input-quant.ts';
import { verifyBundle } from '../../src/verifier/index.ts';
import { HAVE_SHARED, SHARED_FIXTURES } from '../helpers/paths.ts';

describe('per-feature scale and width from ranges', () => {
  const name = (i: number) => `f${i}`;
  it('keeps the model scale where it fits and narrows the width', () => {
    const q = inputQuantFromRanges([0], [1], DEFAULT_SETTINGS, name);
    // A pixel in [0, 1] at 2^10 with a 25% margin: 1280 < 2^11, so 11 unsigned bits (the range starts at 0), not 22.
    expect(q).toMatchObject({ scaleBits: [10], bits: [11] });
    // A range below 0 is checked signed: 12 bits.
    expect(inputQuantFromRanges([-1], [1], DEFAULT_SETTINGS, name)).toMatchObject({ scaleBits: [10], bits: [12] });
  });
  it('lowers the scale of a feature in raw units until it fits the activation width', () => {
    const q = inputQuantFromRanges([0, 300], [500_000, 850], DEFAULT_SETTINGS, name);
    // 625,000 * 2^1 < 2^21 <= 625,000 * 2^2.
    expect(q.scaleBits).toEqual([1, 10]);
    expect(q.bits[0]).toBeLessThanOrEqual(22);
    // 850 * 1.25 * 2^10 < 2^21: 21 unsigned bits (the range starts above 0).
    expect(q.bits[1]).toBe(21);
  });
  it('refuses a range that fits no scale, naming the feature', () => {
    expect(() => inputQuantFromRanges([0], [1e15], DEFAULT_SETTINGS, () => 'income')).toThrow(/income/);
    expect(() => inputQuantFromRanges([2], [1], DEFAULT_SETTINGS, () => 'age')).toThrow(/age/);
  });
});

describe('circuit with per-feature inputs equals the integer reference', () => {
  it('raw units enter the first dense layer at their own scale; outputs match bit for bit', async () => {
    const r = rng(5);
    // Weights sized for raw units (an income in dollars next to a ratio), then a ReLU.
    const fc0 = denseLayer('fc0', 3, 4, r, 1);
    fc0.weights = fc0.weights.map((v, k) => (k % 3 === 0 ? v * 1e-5 : v));
    const ir = handIr(3, [fc0, { kind: 'relu', name: 'relu0', size: 4, nodes: [] }, denseLayer('fc1', 4, 2, r, 0.5)], 'softmax', 2);
    const iq = inputQuantFromRanges([0, -1, 0], [400_000, 1, 30], DEFAULT_SETTINGS, (i) => `x${i}`);
    expect(iq.scaleBits[0]).toBeLessThan(DEFAULT_SETTINGS.scaleBits);
    const q = quantizeModel(ir, DEFAULT_SETTINGS, iq);
    const h = await harness(q);
    expect(h.gen.plan[0]).toMatchObject({ kind: 'input', constraints: iq.bits.reduce((a, b) => a + b, 0) });
    for (const x of [
      [390_000, 0.5, 25],
      [0, -1, 0],
      [12_345.5, 0.001, 17],
    ]) {
      const ref = runReference(q, x);
      expectMatches(ref, witnessOutputs(await h.witness(ref.input), q, 1));
    }
    // Out of a feature's range: refused, naming the feature and the bound, not the value.
    const err = (() => {
      try {
        runReference(q, [1e7, 0, 0]);
      } catch (e) {
        return e;
      }
    })();
    expect(isZkinferError(err, 'INPUT_RANGE')).toBe(true);
    expect((err as Error).message).toMatch(/^x\[0\] is outside the representable range \[/);
    expect((err as Error).message).not.toContain('10000000');
    // The circuit refuses it too: a witness for a value past the feature's width fails.
    const beyond = [...runReference(q, [0, 0, 0]).input];
    beyond[2] = 1n << BigInt(iq.bits[2]);
    await expect(h.witness(beyond)).rejects.toThrow();
    // x[2]'s range starts at 0, so it is checked unsigned: a negative value is refused by the reference and the circuit.
    expect(() => runReference(q, [0, 0, -0.5])).toThrow(expect.objectContaining({ code: 'INPUT_RANGE', field: 'x[2]' }));
    const negative = [...runReference(q, [0, 0, 0]).input];
    negative[2] = -1n;
    await expect(h.witness(negative)).rejects.toThrow();
    expect(h.gen.source).toMatch(/inPos\[inSign\d+uIdx\[k\]\] <== 1;/);
  });

  it('a model that starts with ReLU may narrow widths but not lower scales', async () => {
    const r = rng(6);
    const ir = handIr(2, [{ kind: 'relu', name: 'relu0', size: 2, nodes: [] }, denseLayer('fc', 2, 1, r, 0.5)], 'sigmoid', 1);
    const narrow = inputQuantFromRanges([0, 0], [1, 3], DEFAULT_SETTINGS, (i) => `x${i}`);
    const q = quantizeModel(ir, DEFAULT_SETTINGS, narrow);
    const h = await harness(q);
    const ref = runReference(q, [0.75, 2.5]);
    expectMatches(ref, witnessOutputs(await h.witness(ref.input), q, 1));
    const wide = inputQuantFromRanges([0, 0], [100_000, 3], DEFAULT_SETTINGS, (i) => `x${i}`);
    expect(() => quantizeModel(ir, DEFAULT_SETTINGS, wide)).toThrow(/applies relu to its raw inputs/);
  });
});

describe.skipIf(!HAVE_SHARED)('a real credit model in raw units (cybersuraksha: income, credit_score)', () => {
  const file = path.join(SHARED_FIXTURES, 'credit', 'cybersuraksha-loan-eligibility', 'loan_eligibility.onnx');
  // 20 realistic applicants: incomes in dollars, FICO-style scores.
  const applicants = Array.from({ length: 20 }, (_, i) => ({ income: 18_000 + ((i * 37_919) % 240_000), credit_score: 310 + ((i * 131) % 540) }));
  let m: Awaited<ReturnType<typeof compileModel>>;
  let setup: Awaited<ReturnType<typeof setupModel>>;

  beforeAll(async () => {
    m = await compileModel(file, { inputRanges: { income: [0, 500_000], credit_score: [300, 850] }, fidelity: false });
    setup = await setupModel(m);
  });

  it('is refused by the default settings, naming the feature', async () => {
    const plain = await compileModel(file, { fidelity: false });
    const err = await proveModel(plain, await setupModel(plain), applicants[0]).catch((e: unknown) => e);
    expect(isZkinferError(err, 'INPUT_RANGE')).toBe(true);
    expect((err as Error).message).toMatch(/^income is outside the representable range/);
  });

  it('proves all 20 applicants with declared ranges, with no decision flip against onnxruntime', async () => {
    expect(m.descriptor.inputQuant?.scaleBits[0]).toBeLessThan(10);
    const loaded = await loadModel(file);
    let flips = 0;
    let maxErr = 0;
    for (const a of applicants) {
      const r = await proveModel(m, setup, a);
      const v = await verifyBundle(r.bundle);
      expect(v.valid).toBe(true);
      const float = await runOnnxRuntime(file, Float64Array.from([a.income, a.credit_score]), loaded.ir);
      // onnxruntime gives the model's own output: the probability.
      const p = float[0];
      maxErr = Math.max(maxErr, Math.abs(p - v.outputs!.probability![0]));
      if ((p >= 0.5 ? 1 : 0) !== v.outputs!.decision![0]) flips++;
    }
    console.log(`cybersuraksha, 20 applicants in raw units: ${flips} decision flips, max probability error ${maxErr.toExponential(2)}`);
    expect(flips).toBe(0);
    expect(maxErr).toBeLessThan(0.01);
  });

  it('puts the bounds in the descriptor: editing them breaks the commitment', async () => {
    const { bundle } = await proveModel(m, setup, applicants[3]);
    bundle.model.inputQuant!.hi[0] = 1e9;
    expect(await verifyBundle(bundle)).toMatchObject({ valid: false, field: 'model' });
  });

  it('calibration rows set the ranges and the fidelity report runs on them', async () => {
    const loaded = await loadModel(file);
    const rows = applicants.map((a) => Float64Array.from([a.income, a.credit_score]));
    const c = await compileLoaded(loaded, { calibration: rows, floatModel: (x) => runOnnxRuntime(file, Float64Array.from(x), loaded.ir) });
    expect(c.fidelity).toMatchObject({ inputs: 'calibration', samples: 20, decisionFlips: 0 });
    expect(c.modelId).not.toBe(m.modelId);
  });
});

describe('fidelity reports that cannot mislead', () => {
  it('warns when every output rounds to zero, and when nothing could be compared', async () => {
    const { evalFloat } = await import('../../src/quant/float-eval.ts');
    const { fidelityReport } = await import('../../src/quant/fidelity.ts');
    const tiny = denseLayer('fc', 2, 1, rng(3), 1);
    tiny.weights = tiny.weights.map(() => 1e-4);
    tiny.bias = tiny.bias.map(() => 0);
    const ir = handIr(2, [tiny], 'none', 1);
    const q = quantizeModel(ir, DEFAULT_SETTINGS);
    const float = async (x: ArrayLike<number>) => evalFloat(ir, x).output;
    const r = await fidelityReport(
      q,
      [
        [1, 1],
        [0.5, -0.25],
      ],
      float,
    );
    expect(r.warnings.join()).toMatch(/every quantized output is 0/);
    const none = await fidelityReport(
      q,
      [
        [1e6, 0],
        [-1e7, 1],
      ],
      float,
    );
    expect(none).toMatchObject({ compared: 0, maxAbsError: null, outOfRange: 2 });
    expect(none.warnings[0]).toMatch(/no sample could be compared.*--calibration or --input-range/);
    expect(r.warnings.join()).toMatch(/raise --scale/);
    // A service compile's warnings name the upload's fields: a REST user has no flags.
    const { REST_FIDELITY_HINTS } = await import('../../src/queue/processors.ts');
    const rest = await fidelityReport(q, [[1e6, 0]], float, REST_FIDELITY_HINTS);
    expect(rest.warnings[0]).toMatch(/no sample could be compared.*"calibration" file field.*"inputRange"/);
    const restZero = await fidelityReport(q, [[1, 1]], float, REST_FIDELITY_HINTS);
    expect(restZero.warnings.join()).toMatch(/raise the "scale" upload field/);
    expect([...rest.warnings, ...restZero.warnings].join()).not.toMatch(/--/);
  });
});
