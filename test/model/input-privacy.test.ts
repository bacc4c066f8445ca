import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { isZkinferError, type ZkinferError } from '../../src/core/errors.ts';
import { loadModel, MAX_INPUT_DEPTH, type ModelIR, parseInput, runOnnxRuntime } from '../../src/model/index.ts';
import { checkInput, type InputDescription } from '../../src/quant/check-input.ts';
import { DEFAULT_SETTINGS, fidelityReport, inputQuantFromRanges, quantizeModel, runReference, type QuantizedModel } from '../../src/quant/index.ts';
import { packValues } from '../../src/fixed/pack.ts';
import { handIr } from '../helpers/ir.ts';
import { LOAN_MODEL, REPO } from '../helpers/paths.ts';

/** The error `f` throws (the test fails if it throws none). */
function thrown(f: () => unknown): ZkinferError {
  try {
    f();
  } catch (e) {
    return e as ZkinferError;
  }
  throw new Error('expected an error');
}

/** Every way a number may be printed: none of them may appear in a message. */
function renderings(v: number): string[] {
  const scaled = Math.round(v * 2 ** DEFAULT_SETTINGS.scaleBits);
  return [String(v), v.toLocaleString('en-US'), String(Math.trunc(v)), String(scaled), String(Math.abs(scaled)), JSON.stringify(v)];
}

function expectNoValue(e: ZkinferError, ...values: (number | string)[]): void {
  for (const v of values) {
    for (const r of typeof v === 'number' ? renderings(v) : [v]) expect(e.message, `message leaks ${r}`).not.toContain(r);
  }
}

let ir: ModelIR;
let q: QuantizedModel;
let model: InputDescription;
const applicant = {
  age: 40,
  income: 38.5,
  loan_amount: 44.7,
  debt_to_income: 26.2,
  credit_history_years: 2.3,
  late_payments: 0,
  employment_years: 11.9,
  credit_score: 674,
};
beforeAll(async () => {
  ir = (await loadModel(LOAN_MODEL)).ir;
  q = quantizeModel(ir, DEFAULT_SETTINGS);
  // What a model record publishes: input names and sizes, and the settings.
  model = { inputs: ir.inputs.map((i) => ({ name: i.name, size: i.size })), settings: DEFAULT_SETTINGS };
});

describe('input errors name the feature and the bound, never the value', () => {
  it.each([987654321.123, -31337.77, 2050.4375])('an out-of-range income (%d): INPUT_RANGE naming income and the range', (income) => {
    const e = thrown(() => checkInput({ ...applicant, income }, model));
    expect(e).toMatchObject({ code: 'INPUT_RANGE', field: 'income' });
    expect(e.message).toBe('income is outside the representable range [-2048, 2047.9990234375] (scale 2^10, 22 bits)');
    expectNoValue(e, income);
  });

  it('the integer reference (the prover path) gives the same value-free error', () => {
    const x = parseInput({ ...applicant, credit_score: 7654321.5 }, ir);
    const e = thrown(() => runReference(q, x));
    expect(e).toMatchObject({ code: 'INPUT_RANGE', field: 'credit_score' });
    expectNoValue(e, 7654321.5);
  });

  it('a non-number (a string, an object, null) is INPUT_VALUE naming the feature, not repeating it', () => {
    for (const income of ['SECRET-income-61482', { amount: 61482 }, null, [61482, 1]]) {
      const e = thrown(() => checkInput({ ...applicant, income }, model));
      expect(isZkinferError(e)).toBe(true);
      expect(e.field).toMatch(/^income/);
      expectNoValue(e, 'SECRET', '61482');
    }
    const arr = thrown(() => checkInput([40, 38.5, 'SSN-078-05-1120', 26.2, 2.3, 0, 11.9, 674], model));
    expect(arr).toMatchObject({ code: 'INPUT_VALUE', field: 'input[2]' });
    expectNoValue(arr, 'SSN', '078-05-1120');
  });

  it('an intermediate value that overflows names the layer and neuron, not the value', () => {
    // A weight of 1000 times an in-range input of 1999.75 overflows 32-bit accumulators.
    const wide = quantizeModel(
      handIr(1, [{ kind: 'dense', name: 'fc', inSize: 1, outSize: 1, weights: Float64Array.of(1000), bias: Float64Array.of(0), nodes: ['fc'] }], 'none', 1),
      DEFAULT_SETTINGS,
    );
    const e = thrown(() => runReference(wide, [1999.75]));
    expect(e).toMatchObject({ code: 'INPUT_RANGE', field: 'fc[0]' });
    expectNoValue(e, 1999.75);
    // The accumulator (about 2^31) in any form: no long number at all.
    expect(e.message).not.toMatch(/\d{6,}/);
  });

  it('the fidelity report quotes the value-free message', async () => {
    const x = Object.values({ ...applicant, income: 55555.5 });
    const r = await fidelityReport(q, [x], (v) => runOnnxRuntime(LOAN_MODEL, Float64Array.from(v), ir));
    expect(r.outOfRange).toBe(1);
    expect(r.firstOutOfRange).toMatch(/^income is outside/);
    expect(r.firstOutOfRange).not.toContain('55555');
  });

  it('packing a value that does not fit says where, not what', () => {
    expect(() => packValues([0n, 123456789n], 22)).toThrow(/^value 1 does not fit 22 bits$/);
  });
});

describe('input shape: nesting and length are bounded without recursion', () => {
  const nested = (depth: number, leaf: unknown = 1): unknown => {
    let a: unknown = leaf;
    for (let i = 0; i < depth; i++) a = [a];
    return a;
  };

  it('a feature nested 100,000 arrays deep is INPUT_SHAPE naming the feature', () => {
    const e = thrown(() => checkInput({ ...applicant, income: nested(100_000) }, model));
    expect(e).toMatchObject({ code: 'INPUT_SHAPE', field: 'income' });
    expect(e.message).toContain(`more than ${MAX_INPUT_DEPTH} arrays deep`);
  });

  it('as the API receives it: parsed from 100,000-deep JSON text, in every input form', () => {
    const deep = `${'['.repeat(100_000)}1${']'.repeat(100_000)}`;
    const forms: [string, string][] = [
      [`{"age": ${deep}}`, 'age'],
      [`{"input_data": [${deep}]}`, 'input_data[0]'],
      [deep, 'input'],
    ];
    for (const [text, field] of forms) {
      const e = thrown(() => checkInput(JSON.parse(text), model));
      expect(e).toMatchObject({ code: 'INPUT_SHAPE', field });
    }
  });

  it('nesting within the bound is read as before', () => {
    expect(parseInput({ ...applicant, income: nested(MAX_INPUT_DEPTH - 1, 38.5) }, ir)).toEqual(parseInput(applicant, ir));
  });

  it('a million values for an 8-feature model are refused after the ninth', () => {
    const long = new Array(1_000_000).fill(1);
    const t0 = performance.now();
    const e = thrown(() => checkInput(long, model));
    expect(performance.now() - t0).toBeLessThan(50);
    expect(e).toMatchObject({ code: 'INPUT_SHAPE', field: 'input' });
    expect(e.message).toBe('input has more than 8 value(s); expected 8');
    const feature = thrown(() => checkInput({ ...applicant, income: long }, model));
    expect(feature).toMatchObject({ code: 'INPUT_SHAPE', field: 'income' });
  });

  it('an unknown feature name is echoed at most 64 characters long', () => {
    const e = thrown(() => checkInput({ ...applicant, ['x'.repeat(10_000)]: 1 }, model));
    expect(e.code).toBe('INPUT_SHAPE');
    expect(e.message.length).toBeLessThan(300);
  });
});

describe('checkInput: the submit-time check from the public description alone', () => {
  it('gives the quantized features the integer reference uses', () => {
    const x = parseInput(applicant, ir);
    expect(checkInput(applicant, model)).toEqual(runReference(q, x).input);
    expect(checkInput({ input_data: [Object.values(applicant)] }, model)).toEqual(runReference(q, x).input);
  });

  it('accepts the repo example applicant and refuses a missing feature', async () => {
    const example = JSON.parse(await import('node:fs/promises').then((fs) => fs.readFile(path.join(REPO, 'examples', 'loan', 'applicant.json'), 'utf8')));
    expect(checkInput(example, model)).toHaveLength(8);
    const { income: _i, ...missing } = applicant;
    expect(thrown(() => checkInput(missing, model))).toMatchObject({ code: 'INPUT_SHAPE', field: 'income' });
  });

  it('uses the settings it is given: a narrower width narrows the range', () => {
    const narrow = { ...model, settings: { scaleBits: 10, bits: 29 } };
    const e = thrown(() => checkInput(applicant, narrow));
    // 674 does not fit [-256, 256): 19-bit activations at scale 2^10.
    expect(e).toMatchObject({ code: 'INPUT_RANGE', field: 'credit_score' });
    expect(e.message).toContain('[-256, 255.9990234375]');
    expectNoValue(e, 674);
  });

  it('uses per-feature quantization when the model has it (a feature in raw units)', () => {
    // income sized for [0, 200000]: scale 2^-3, 18 unsigned bits (its range starts at 0); every other feature the default.
    const names = (i: number) => model.inputs[i].name;
    const lo = model.inputs.map((i) => (i.name === 'income' ? 0 : -2048));
    const hi = model.inputs.map((i) => (i.name === 'income' ? 200_000 : 2047));
    const iq = inputQuantFromRanges(lo, hi, DEFAULT_SETTINGS, names);
    const raw = { ...model, inputQuant: iq };
    const k = model.inputs.findIndex((i) => i.name === 'income');
    expect(checkInput({ ...applicant, income: 123_456 }, raw)[k]).toBe(BigInt(Math.round(123_456 * 2 ** iq.scaleBits[k])));
    const e = thrown(() => checkInput({ ...applicant, income: 4_444_444.25 }, raw));
    expect(e).toMatchObject({ code: 'INPUT_RANGE', field: 'income' });
    expect(e.message).toContain(`(scale 2^${iq.scaleBits[k]}, ${iq.bits[k]} bits unsigned)`);
    expectNoValue(e, 4_444_444.25);
    expect(e.message).not.toContain('4444');
  });
});
