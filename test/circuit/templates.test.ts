import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { firstViolated, generateCircuit } from '../../src/circuit/index.ts';
import { isZkinferError } from '../../src/core/errors.ts';
import type { Layer } from '../../src/model/ir.ts';
import { FIELD_ORDER, inputQuantFromRanges, quantizeModel, runReference, type QuantizedModel } from '../../src/quant/index.ts';
import { expectMatches, harness, witnessOutputs, type Harness } from '../helpers/circuit.ts';
import { denseLayer, handIr, maxPoolLayer, rng, sparseLayer } from '../helpers/ir.ts';
import { everyModeTrees, treeLayer } from '../helpers/trees.ts';
import { composeConv, csrFromConv } from '../../src/model/lowering/conv-structure.ts';
import type { ConvStructure } from '../../src/model/ir.ts';

const relu = (name: string, size: number): Layer => ({ kind: 'relu', name, size, nodes: [name] });

/** Small models that together use every template, with and without reusable sign digits. */
function cases(): { name: string; q: QuantizedModel; inputScale: number }[] {
  const r = rng(7);
  const rand = (n: number) => Float64Array.from({ length: n }, () => (r() * 2 - 1) * 0.7);
  const conv = (name: string, c: ConvStructure): Layer => csrFromConv(c, rand(c.outShape.reduce((a, b) => a * b, 1)), name, [name]);
  const st = { scaleBits: 8, bits: 24 };
  return [
    {
      name: 'mlp-sigmoid',
      q: quantizeModel(handIr(5, [denseLayer('fc1', 5, 4, r), relu('relu1', 4), denseLayer('fc2', 4, 2, r)], 'sigmoid', 2), st),
      inputScale: 3,
    },
    {
      name: 'every-layer-softmax',
      q: quantizeModel(
        handIr(
          4,
          [
            relu('relu0', 4), // no sign digits available: decomposes its input
            denseLayer('fc1', 4, 3, r),
            { kind: 'leaky_relu', name: 'prelu', size: 3, alpha: Float64Array.from([0.1, 0.25, -0.3]), nodes: [] },
            { kind: 'clip', name: 'clip', size: 3, min: -0.5, max: 0.75, nodes: [] },
            { kind: 'sigmoid', name: 'sigmoid', size: 3, nodes: [] },
            { kind: 'leaky_relu', name: 'leaky2', size: 3, alpha: Float64Array.from([0.5, 0.5, 0.5]), nodes: [] },
            denseLayer('fc2', 3, 4, r, 3),
          ],
          'softmax',
          4,
        ),
        st,
      ),
      inputScale: 4,
    },
    {
      // A max pool on the range-checked input, a sparse layer whose max pool compares its
      // accumulators before the rescale (windows of 3, and of 1), a relu on the maxima,
      // and a max pool on activations (a window of 1 among them).
      name: 'sparse-maxpool',
      q: quantizeModel(
        handIr(
          12,
          [
            maxPoolLayer('pool0', 12, [[0, 1], [2, 3, 4], [5], [6, 7], [8, 9, 10, 11], [1, 6]]),
            sparseLayer('conv', 6, 10, 3, r),
            maxPoolLayer('pool1', 10, [[0, 1, 2], [3], [4, 5, 6], [7, 8, 9], [2, 9]]),
            relu('relu1', 5),
            maxPoolLayer('pool2', 5, [[0, 1], [2], [3, 4, 0]]),
            denseLayer('fc', 3, 3, r),
          ],
          'softmax',
          3,
        ),
        st,
      ),
      inputScale: 4,
    },
    {
      // Convolutions given to the circuit as kernels (ConvConst): grouped, strided,
      // dilated and padded; then a max pool on its accumulators; then a depthwise average
      // pool composed with a second convolution.
      name: 'conv-kernels',
      q: quantizeModel(
        handIr(
          50,
          [
            conv('conv1', {
              inShape: [2, 5, 5],
              outShape: [4, 3, 3],
              kernel: [3, 2],
              strides: [2, 1],
              dilations: [1, 2],
              pads: [1, 1],
              group: 2,
              weights: rand(4 * 1 * 3 * 2),
            }),
            maxPoolLayer(
              'pool1',
              36,
              Array.from({ length: 12 }, (_, k) => [3 * k, 3 * k + 1, 3 * k + 2]),
            ),
            relu('relu1', 12),
            conv(
              'conv2-pool',
              composeConv(
                {
                  inShape: [4, 3, 1],
                  outShape: [2, 2, 1],
                  kernel: [2, 1],
                  strides: [1, 1],
                  dilations: [1, 1],
                  pads: [1, 0],
                  group: 1,
                  weights: rand(2 * 4 * 2),
                },
                {
                  inShape: [2, 2, 1],
                  outShape: [2, 1, 1],
                  kernel: [2, 1],
                  strides: [2, 1],
                  dilations: [1, 1],
                  pads: [0, 0],
                  group: 2,
                  weights: Float64Array.of(0.5, 0.5, 0.5, 0.5),
                },
              )!,
            ),
            denseLayer('fc', 2, 3, r),
          ],
          'softmax',
          3,
        ),
        st,
      ),
      inputScale: 3,
    },
    {
      // Inputs in [-1, 1] with their own narrow range checks: the first layer's rescale is narrower too.
      name: 'narrow-inputs-first-layer',
      q: quantizeModel(
        handIr(6, [denseLayer('fc1', 6, 4, r), relu('relu1', 4), denseLayer('fc2', 4, 2, r)], 'sigmoid', 2),
        st,
        inputQuantFromRanges(Array(6).fill(-1), Array(6).fill(1), st, (i) => `x[${i}]`),
      ),
      inputScale: 1,
    },
    {
      name: 'clip-one-sided-regression',
      q: quantizeModel(
        handIr(
          3,
          [denseLayer('fc1', 3, 3, r), { kind: 'clip', name: 'relu6', size: 3, min: 0, max: Infinity, nodes: [] }, denseLayer('fc2', 3, 1, r)],
          'none',
          1,
        ),
        st,
      ),
      inputScale: 4,
    },
    {
      // Trees on the inputs: bucketed feature 0, directly compared features 1 and 2, argmax head.
      name: 'trees-argmax',
      q: quantizeModel(handIr(3, [treeLayer('trees', 3, 2, everyModeTrees(3, 2), [0.25, -0.125])], 'argmax', 2), st),
      inputScale: 2.5,
    },
    {
      // Trees on activations (after a dense layer), one output, sigmoid head reusing the rescale's sign digit.
      name: 'dense-trees-sigmoid',
      q: quantizeModel(handIr(3, [denseLayer('fc', 3, 3, r), treeLayer('trees', 3, 1, everyModeTrees(3, 1), [-0.5])], 'sigmoid', 1), st),
      inputScale: 2,
    },
  ];
}

describe.each(cases())('circuit $name', ({ q, inputScale }) => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness(q);
  });

  it('has exactly the documented number of constraints', () => {
    expect(h.compiled.constraints).toBe(h.gen.constraints);
    expect(h.gen.plan.reduce((a, p) => a + p.constraints, 0)).toBe(h.gen.constraints);
  });

  it('outputs the integer reference bit for bit and satisfies every constraint', async () => {
    const r = rng(99);
    const constraints = await h.constraints();
    for (let t = 0; t < 25; t++) {
      const x = Array.from({ length: q.inputSize }, () => (r() * 2 - 1) * inputScale);
      const ref = runReference(q, x);
      const w = await h.witness(ref.input);
      expectMatches(ref, witnessOutputs(w, q, h.gen.decisionSize));
      expect(firstViolated(constraints, w)).toBe(-1);
    }
  });

  it('rejects a witness with any hint signal changed', async () => {
    const ref = runReference(
      q,
      Array.from({ length: q.inputSize }, (_, i) => ((i % 3) - 1) * 0.7),
    );
    const honest = await h.witness(ref.input);
    const constraints = await h.constraints();
    // Rescale / NonNegative digits, the Argmax one-hot, TreeBuckets' comparison bits.
    const hints = [...h.symbols].filter(([name]) => /\.(bits|onehot|le)\[\d+\]$/.test(name));
    expect(hints.length).toBeGreaterThan(0);
    for (const [name, idx] of hints) {
      for (const delta of [1n, FIELD_ORDER - 1n, 2n]) {
        const w = honest.slice();
        w[idx] = (w[idx] + delta) % FIELD_ORDER;
        expect(firstViolated(constraints, w), `${name} + ${delta}`).not.toBe(-1);
      }
    }
  });

  it('rejects a forged output', async () => {
    const ref = runReference(
      q,
      Array.from({ length: q.inputSize }, () => 0.3),
    );
    const honest = await h.witness(ref.input);
    const constraints = await h.constraints();
    for (let i = 1; i <= q.outputSize + h.gen.decisionSize; i++) {
      const w = honest.slice();
      w[i] = (w[i] + 1n) % FIELD_ORDER;
      expect(firstViolated(constraints, w)).not.toBe(-1);
    }
  });
});

describe('rescale soundness', () => {
  it('has no second decomposition: re-deriving every digit for q + 1 breaks the recombination', async () => {
    const q = cases()[0].q;
    const h = await harness(q);
    const ref = runReference(q, [0.5, -1, 1.5, 0.25, -0.75]);
    const honest = await h.witness(ref.input);
    const constraints = await h.constraints();
    const N = q.settings.bits;
    const s = q.settings.scaleBits;
    // The first neuron of fc1: shift its digits as if the accumulator were 2^s larger.
    const acc = ref.layers[0][0] * (1n << BigInt(s)) + (1n << BigInt(N - 1));
    const forged = acc + (1n << BigInt(s));
    const w = honest.slice();
    for (let i = 0; i < N; i++) {
      const idx = h.symbols.get(`main.l0Rs[0].bits[${i}]`);
      if (idx !== undefined) w[idx] = (forged >> BigInt(i)) & 1n;
    }
    expect(firstViolated(constraints, w)).not.toBe(-1);
  });
});

describe('generation', () => {
  const golden = path.join(import.meta.dirname, '..', 'golden', 'every-layer-softmax.circom');
  it('is a pure function matching the golden file', async () => {
    const src = generateCircuit(cases()[1].q).source;
    expect(generateCircuit(cases()[1].q).source).toBe(src);
    if (process.env.UPDATE_GOLDEN === '1') await writeFile(golden, src);
    expect(src).toBe(await readFile(golden, 'utf8'));
  });

  it('refuses weights that could wrap an accumulator around the field', () => {
    const ir = handIr(2, [{ ...denseLayer('big', 2, 1, rng(1)), weights: Float64Array.from([1e40, 1]) }], 'none', 1);
    let err: unknown;
    try {
      quantizeModel(ir, { scaleBits: 32, bits: 128 });
    } catch (e) {
      err = e;
    }
    expect(isZkinferError(err, 'FIELD_OVERFLOW')).toBe(true);
    expect((err as { field: string }).field).toBe('big');
  });

  it('refuses bad settings naming the setting', () => {
    const ir = handIr(2, [denseLayer('fc', 2, 1, rng(1))], 'none', 1);
    for (const [st, field] of [
      [{ scaleBits: 0, bits: 32 }, 'scale'],
      [{ scaleBits: 8, bits: 300 }, 'bits'],
      [{ scaleBits: 16, bits: 18 }, 'bits'],
    ] as const) {
      expect(() => quantizeModel(ir, st)).toThrow(expect.objectContaining({ code: 'SETTINGS', field }));
    }
  });

  it('reports an out-of-range input by feature name, before any witness', () => {
    const q = quantizeModel(handIr(2, [denseLayer('fc', 2, 1, rng(1))], 'none', 1), { scaleBits: 8, bits: 24 });
    expect(() => runReference(q, [1, 200])).toThrow(expect.objectContaining({ code: 'INPUT_RANGE', field: 'x[1]' }));
    expect(() => runReference(q, [1, Number.NaN])).toThrow(expect.objectContaining({ code: 'INPUT_VALUE', field: 'x[1]' }));
  });
});

describe('inner sigmoid approximation', () => {
  it('stays within its documented maximum error of 0.12', () => {
    const q = quantizeModel(handIr(1, [{ kind: 'sigmoid', name: 's', size: 1, nodes: [] }], 'none', 1), { scaleBits: 12, bits: 40 });
    let worst = 0;
    for (let x = -12; x <= 12; x += 1 / 64) {
      const y = Number(runReference(q, [x]).output[0]) / 2 ** 12;
      worst = Math.max(worst, Math.abs(y - 1 / (1 + Math.exp(-x))));
    }
    expect(worst).toBeLessThan(0.12);
    expect(worst).toBeGreaterThan(0.1); // the bound is tight, not loose
  });
});

describe('categorical input columns (one-hot)', () => {
  const st = { scaleBits: 8, bits: 24 };
  const one = 1n << 8n;
  /** A numeric feature, then a categorical column of three categories: four flat features. */
  function ir(layers: Layer[], head: 'none' | 'sigmoid', outputSize: number) {
    const base = handIr(4, layers, head, outputSize);
    return {
      ...base,
      inputs: [
        { name: 'num', shape: [1], size: 1, offset: 0 },
        { name: 'cat', shape: [1], size: 3, offset: 1, categories: [['a', 'b', 'c']] },
      ],
    };
  }

  it('costs one constraint per category, and the model circuit matches the integer reference', async () => {
    const q = quantizeModel(ir([denseLayer('fc', 4, 1, rng(3))], 'sigmoid', 1), st);
    const h = await harness(q);
    expect(h.gen.plan[0]).toMatchObject({ name: 'input', constraints: 16 + 3, formula: '1 x 16 + 3 x 1 (one-hot)' });
    expect(h.compiled.constraints).toBe(h.gen.constraints);
    const constraints = await h.constraints();
    for (const x of [
      [0.5, 1, 0, 0],
      [-3, 0, 1, 0],
      [7.25, 0, 0, 1],
    ]) {
      const ref = runReference(q, x);
      const w = await h.witness(ref.input);
      expectMatches(ref, witnessOutputs(w, q, h.gen.decisionSize));
      expect(firstViolated(constraints, w)).toBe(-1);
    }
    // The witness generator itself refuses what is not one category.
    for (const forged of [
      [0n, 0n, 0n],
      [one, one, 0n],
      [one / 2n, one / 2n, 0n],
      [2n * one, FIELD_ORDER - one, 0n],
      [1n, 0n, 0n],
    ]) {
      await expect(h.witness([100n, ...forged])).rejects.toThrow();
    }
  });

  it('a witness whose categorical features are not one-hot violates a constraint', async () => {
    // No layers: the outputs are the inputs, so only the input checks constrain them.
    const q = quantizeModel(ir([], 'none', 4), st);
    const h = await harness(q);
    const constraints = await h.constraints();
    const honest = await h.witness([100n, 0n, one, 0n]);
    expect(firstViolated(constraints, honest)).toBe(-1);
    const set = (w: bigint[], i: number, v: bigint) => {
      for (const name of [`main.x[${i}]`, `main.y[${i}]`]) {
        const idx = h.symbols.get(name);
        if (idx !== undefined && idx >= 0) w[idx] = ((v % FIELD_ORDER) + FIELD_ORDER) % FIELD_ORDER;
      }
    };
    for (const forged of [
      [0n, 0n, 0n],
      [one, one, 0n],
      [one / 2n, one / 2n, 0n],
      [2n * one, -one, 0n],
      [0n, one + 1n, -1n],
    ]) {
      const w = honest.slice();
      forged.forEach((v, k) => set(w, 1 + k, v));
      expect(firstViolated(constraints, w), forged.join()).not.toBe(-1);
    }
    // Another category, consistently set, is a valid witness (the constraint is not vacuous the other way).
    const other = honest.slice();
    [0n, 0n, one].forEach((v, k) => set(other, 1 + k, v));
    expect(firstViolated(constraints, other)).toBe(-1);
  });
});
