import { beforeAll, describe, expect, it } from 'vitest';
import { firstViolated } from '../../src/circuit/index.ts';
import type { Layer, NormalizeLayer } from '../../src/model/ir.ts';
import { FIELD_ORDER, inputQuantFromRanges, type InputQuant, quantizeModel, runReference, type QuantizedModel } from '../../src/quant/index.ts';
import { expectMatches, harness, witnessOutputs, type Harness } from '../helpers/circuit.ts';
import { denseLayer, handIr, rng } from '../helpers/ir.ts';
import { copyDense } from '../helpers/ml-ops.ts';

/**
 * The Binarizer and Normalizer circuits (binarize: a range-checked sign digit per element;
 * NormL1 / NormL2 / NormMax with DivFloor, NormIsZero and the L2 root): compiled with
 * circom, their constraint counts are the generator's, their witnesses give the integer
 * reference bit for bit (zero rows, negative maxima and one-element rows included), and
 * changing any hint (quotient, inverse, root, every decomposition digit) or an output
 * breaks a constraint.
 */
const st = { scaleBits: 8, bits: 24 };
const norm = (name: string, n: NormalizeLayer['norm'], size: number): Layer => ({ kind: 'normalize', name, size, norm: n, nodes: [name] });
const relu = (name: string, size: number): Layer => ({ kind: 'relu', name, size, nodes: [name] });

interface Case {
  name: string;
  q: QuantizedModel;
  /** A random input (real units). */
  sample: (r: () => number) => number[];
  /** Inputs at the edges: zero rows, negative or zero maxima. */
  edges: number[][];
  /** An input at which every norm is nonzero (so each inverse hint is pinned). */
  tamper: number[];
}

function cases(): Case[] {
  const r = rng(11);
  const uniform = (n: number, a: number) => (g: () => number) => Array.from({ length: n }, () => (g() * 2 - 1) * a);
  const iq: InputQuant = inputQuantFromRanges([0, -5, 0, -1], [200_000, 5, 1, 1], st, (i) => `x[${i}]`);
  return [
    {
      // Thresholds positive, zero, negative and beyond the range; sign digits of the rescale unused.
      name: 'binarize-after-dense',
      q: quantizeModel(
        handIr(
          4,
          [
            denseLayer('fc1', 4, 4, r),
            { kind: 'binarize', name: 'bin', size: 4, threshold: Float64Array.of(0.25, 0, -0.5, 1e6), nodes: ['bin'] },
            denseLayer('fc2', 4, 1, r),
          ],
          'sigmoid',
          1,
        ),
        st,
      ),
      sample: uniform(4, 3),
      edges: [[0, 0, 0, 0]],
      tamper: [0.7, -0.7, 0.3, 1],
    },
    {
      // On the raw inputs, each feature at its own scale and width (an income at 2^-3, unsigned).
      name: 'binarize-first-per-feature',
      q: quantizeModel(
        handIr(
          4,
          [{ kind: 'binarize', name: 'bin', size: 4, threshold: Float64Array.of(50_000.5, -1.3, 0.5, 0), nodes: ['bin'] }, denseLayer('fc', 4, 2, r)],
          'softmax',
          2,
        ),
        st,
        iq,
      ),
      sample: (g) => [Math.round(g() * 200_000), (g() * 2 - 1) * 5, g(), g() * 2 - 1],
      edges: [
        [50_000, -1.3, 0.5, 0],
        [50_008, -1.25, 0.5 + 2 ** -8, 2 ** -8],
        [0, -5, 0, -1],
      ],
      tamper: [60_000, 1, 0.2, -0.5],
    },
    {
      // L1 with the rescale's sign digits, ReLU, L1 decomposing its inputs, then L2 and MAX on activations.
      name: 'normalize-chain',
      q: quantizeModel(
        handIr(
          3,
          [
            denseLayer('fc1', 3, 4, r),
            norm('l1', 'L1', 4),
            relu('relu', 4),
            norm('l1b', 'L1', 4),
            denseLayer('fc2', 4, 3, r, 3),
            norm('l2', 'L2', 3),
            norm('max', 'MAX', 3),
            denseLayer('fc3', 3, 2, r),
          ],
          'softmax',
          2,
        ),
        st,
      ),
      sample: uniform(3, 4),
      edges: [[0, 0, 0]],
      tamper: [0.7, 1.5, -0.7],
    },
    {
      // On the inputs directly (their sign digits from the input checks), zero and negative maxima.
      name: 'normalize-first',
      q: quantizeModel(handIr(3, [norm('max', 'MAX', 3)], 'none', 3), st),
      sample: uniform(3, 6),
      edges: [
        [0, 0, 0],
        [-1, -2, -4],
        [-1, 0, 0],
        [-0.5, -3, -0.5],
        [3, -4, 0],
        [2 ** -4, -7 / 16, -6 / 16],
      ],
      tamper: [-3, 1.5, 2],
    },
    {
      name: 'normalize-first-l1-l2',
      q: quantizeModel(handIr(3, [norm('l2', 'L2', 3), norm('l1', 'L1', 3)], 'none', 3), st),
      sample: uniform(3, 6),
      edges: [
        [0, 0, 0],
        [-1, 0, 0],
        [3, -4, 0],
        [2 ** -8, 0, 0],
      ],
      tamper: [-3, 1.5, 2],
    },
    {
      // A linear layer whose rows 0 and 2 copy an input (not rescaled: no sign digits for them), then L1 and a binarize.
      name: 'normalize-after-copies',
      q: quantizeModel(
        handIr(
          3,
          [copyDense(), norm('l1', 'L1', 4), { kind: 'binarize', name: 'bin', size: 4, threshold: Float64Array.of(0, 0.1, -0.1, 0.2), nodes: ['bin'] }],
          'none',
          4,
        ),
        st,
      ),
      sample: uniform(3, 4),
      edges: [
        [0, 0, 0],
        [-1, 0, 2],
      ],
      tamper: [0.7, 1.5, -0.7],
    },
    {
      // One-element rows: MAX without a comparison, then a sigmoid head on L1's sign digits.
      name: 'normalize-one-element',
      q: quantizeModel(handIr(1, [norm('max', 'MAX', 1), norm('l2', 'L2', 1), norm('l1', 'L1', 1)], 'sigmoid', 1), st),
      sample: uniform(1, 6),
      edges: [[0], [-2], [2 ** -8]],
      tamper: [-0.75],
    },
  ];
}

describe.each(cases())('circuit $name', (c) => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness(c.q);
  });

  it('has exactly the documented number of constraints', () => {
    expect(h.compiled.constraints).toBe(h.gen.constraints);
  });

  it('outputs the integer reference bit for bit and satisfies every constraint (edge rows included)', async () => {
    const r = rng(99);
    const constraints = await h.constraints();
    const inputs = [...c.edges, ...Array.from({ length: 20 }, () => c.sample(r))];
    for (const x of inputs) {
      const ref = runReference(c.q, x);
      const w = await h.witness(ref.input);
      expectMatches(ref, witnessOutputs(w, c.q, h.gen.decisionSize));
      expect(firstViolated(constraints, w), `x = ${x}`).toBe(-1);
    }
  });

  it('rejects a witness with any hint changed: quotients, inverses, roots, every decomposition digit', async () => {
    const ref = runReference(c.q, c.tamper);
    const honest = await h.witness(ref.input);
    const constraints = await h.constraints();
    expect(firstViolated(constraints, honest)).toBe(-1);
    // (circom --O2 replaces a quotient q and an L2 root by the digits of their range checks: those digits are the hints.)
    const hints = [...h.symbols].filter(([name, idx]) => idx >= 0 && /\.(bits\[\d+\]|q|inv|root)$/.test(name));
    const norms = c.q.layers.filter((l) => l.kind === 'normalize');
    // One inverse per norm, and the quotients' digits (all but those --O2 substitutes).
    expect(hints.filter(([name]) => name.endsWith('.inv'))).toHaveLength(norms.length);
    if (norms.length > 0)
      expect(hints.filter(([name]) => /\.div\[\d+\]\.range\.bits\[\d+\]$/.test(name)).length).toBeGreaterThanOrEqual(
        norms.reduce((a, l) => a + l.size * (l.kind === 'normalize' ? l.plan.outBits - 2 : 0), 0),
      );
    if (norms.some((l) => l.kind === 'normalize' && l.plan.norm === 'L2')) expect(hints.some(([name]) => /\.rootRange\.bits\[\d+\]$/.test(name))).toBe(true);
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
    const ref = runReference(c.q, c.tamper);
    const honest = await h.witness(ref.input);
    const constraints = await h.constraints();
    for (let i = 1; i <= c.q.outputSize + h.gen.decisionSize; i++) {
      const w = honest.slice();
      w[i] = (w[i] + 1n) % FIELD_ORDER;
      expect(firstViolated(constraints, w)).not.toBe(-1);
    }
  });
});

describe('MAX out of range', () => {
  it('a MAX quotient beyond the activation width is refused by the reference, and the circuit has no witness for it', async () => {
    const q = quantizeModel(handIr(3, [norm('max', 'MAX', 3)], 'none', 3), st);
    const x = [2 ** -8, -7, -6];
    expect(() => runReference(q, x)).toThrow(expect.objectContaining({ code: 'INPUT_RANGE', field: 'max[1]' }));
    const h = await harness(q);
    await expect(h.witness(x.map((v) => BigInt(Math.round(v * 2 ** 8))))).rejects.toThrow();
  });
});
