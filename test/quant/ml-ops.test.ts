import { describe, expect, it } from 'vitest';
import { generateModelTemplate } from '../../src/circuit/index.ts';
import { evalFloat } from '../../src/quant/float-eval.ts';
import type { Layer, NormalizeLayer } from '../../src/model/ir.ts';
import { estimateConstraints, inputQuantFromRanges, quantizeModel, runReference } from '../../src/quant/index.ts';
import { binarizeThreshold, isqrt, normalizeInts, planNormalize } from '../../src/layers/ml-plan.ts';
import { denseLayer, handIr, rng } from '../helpers/ir.ts';
import { copyDense } from '../helpers/ml-ops.ts';

/**
 * The integer rules of the Binarizer and Normalizer layers: the integer threshold test is
 * the float test on every on-grid input, the integer normalisation is the float one to
 * within its documented rounding, the estimate states the generator's counts, and the
 * settings that cannot hold the outputs (or could wrap the field) are refused.
 */
const st = { scaleBits: 8, bits: 24 };

describe('binarize threshold rule: x > t on the grid is X > floor(t·2^k)', () => {
  it('agrees with the float test for every value of small widths, at coarse, unit and fine scales, thresholds on and off the grid and beyond the range', () => {
    const r = rng(5);
    let checked = 0;
    for (const k of [-3, 0, 2, 8]) {
      for (const b of [3, 6, 9]) {
        const lo = -(2 ** (b - 1));
        const hi = 2 ** (b - 1) - 1;
        const ts = [0, -0, 0.5, -0.5, 1 / 3, -1 / 3, 1e9, -1e9, Infinity, -Infinity, lo / 2 ** k, hi / 2 ** k, (lo - 1) / 2 ** k, (hi + 1) / 2 ** k];
        for (let j = 0; j < 40; j++) ts.push((r() * 2 - 1) * 2 ** (b - 1 - k) * 1.2);
        // Exactly on grid points, and one ulp either side of them.
        for (let j = 0; j < 10; j++) {
          const g = Math.round((r() * 2 - 1) * 2 ** (b - 1)) / 2 ** k;
          ts.push(g, g + Math.abs(g) * Number.EPSILON + Number.MIN_VALUE, g - Math.abs(g) * Number.EPSILON - Number.MIN_VALUE);
        }
        for (const t of ts) {
          const T = binarizeThreshold(t, k, b);
          // Clamped so that X - T - 1 fits width + 1 signed bits.
          expect(T >= BigInt(lo - 1) && T <= BigInt(hi)).toBe(true);
          for (let X = lo; X <= hi; X++) {
            expect(BigInt(X) > T, `t=${t} k=${k} X=${X}`).toBe(X / 2 ** k > t);
            checked++;
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(10_000);
    expect(() => binarizeThreshold(Number.NaN, 0, 8)).toThrow(expect.objectContaining({ code: 'MODEL_BAD_WEIGHTS' }));
  });

  it('a first binarize layer compares each feature at its own scale and width (raw units), and outputs 0 or 1.0 at the model scale', () => {
    const iq = inputQuantFromRanges([0, -5, 0], [200_000, 5, 1], st, (i) => `x[${i}]`);
    expect(new Set(iq.scaleBits).size).toBeGreaterThan(1);
    const layers: Layer[] = [
      { kind: 'binarize', name: 'bin', size: 3, threshold: Float64Array.of(50_000.5, -1.3, 0.5), nodes: [] },
      denseLayer('fc', 3, 1, rng(2)),
    ];
    const q = quantizeModel(handIr(3, layers, 'none', 1), st, iq);
    const bin = q.layers[0];
    if (bin.kind !== 'binarize') throw new Error('not binarize');
    expect(bin.widths).toEqual(iq.bits.map((b, i) => (iq.lo[i] >= 0 ? b + 1 : b)));
    expect(bin.threshold).toEqual([
      BigInt(Math.floor(50_000.5 * 2 ** iq.scaleBits[0])),
      BigInt(Math.floor(-1.3 * 2 ** iq.scaleBits[1])),
      BigInt(Math.floor(0.5 * 2 ** iq.scaleBits[2])),
    ]);
    const one = 2n ** 8n;
    // On each feature's grid (the income in steps of 2^3 dollars).
    expect(iq.scaleBits[0]).toBe(-3);
    for (const [x, want] of [
      [
        [50_008, -1, 1],
        [one, one, one],
      ],
      [
        [50_000, -1.5, 0.5],
        [0n, 0n, 0n],
      ],
      [
        [0, 4, 0],
        [0n, one, 0n],
      ],
    ] as const) {
      expect(runReference(q, x).layers[0]).toEqual(want);
    }
    // The estimate counts the same per-feature widths as the generator.
    expect(estimateConstraints(handIr(3, layers, 'none', 1), st, iq).layers.map((l) => l.constraints)).toEqual(
      generateModelTemplate(q).plan.map((p) => p.constraints),
    );
  });

  it('a first normalize layer on inputs at lowered scales is refused with a SETTINGS error (a norm adds features, so they must share one scale)', () => {
    const iq = inputQuantFromRanges([0, 0], [200_000, 1], st, (i) => `x[${i}]`);
    const ir = handIr(2, [{ kind: 'normalize', name: 'norm', size: 2, norm: 'L2', nodes: [] }, denseLayer('fc', 2, 1, rng(2))], 'none', 1);
    expect(() => quantizeModel(ir, st, iq)).toThrow(
      expect.objectContaining({ code: 'SETTINGS', field: 'inputQuant', message: expect.stringMatching(/applies normalize to its raw inputs/) }),
    );
    // Narrower widths at the model's scale are fine.
    const narrow = inputQuantFromRanges([0, -1], [4, 1], st, (i) => `x[${i}]`);
    expect(narrow.scaleBits).toEqual([8, 8]);
    expect(() => quantizeModel(ir, st, narrow)).not.toThrow();
  });
});

describe('normalize: the integer rule', () => {
  const s = 8;
  it('isqrt is the floor of the square root', () => {
    const r = rng(9);
    for (let k = 0; k < 2000; k++) {
      const v = BigInt(Math.floor(r() * 2 ** 50)) * BigInt(1 + Math.floor(r() * 1000));
      const q = isqrt(v);
      expect(q * q <= v && (q + 1n) * (q + 1n) > v).toBe(true);
    }
    for (const v of [0n, 1n, 2n, 3n, 4n, 15n, 16n, 17n]) expect(isqrt(v)).toBe(BigInt(Math.floor(Math.sqrt(Number(v)))));
  });

  it.each(['L1', 'L2', 'MAX'] as const)(
    '%s: y = x·2^s / norm rounded half up (norm rounded down to an integer for L2), x when the norm is 0, matching the float layer',
    (norm) => {
      const r = rng(norm.length * 17);
      const layer: NormalizeLayer = { kind: 'normalize', name: 'n', size: 4, norm, nodes: [] };
      const rows: bigint[][] = [
        [0n, 0n, 0n, 0n],
        [-3n, 0n, -1n, -7n],
        [5n, 0n, 0n, 0n],
        [-1n, 0n, 0n, -2n],
        [1n, 1n, 1n, 1n],
      ];
      for (let k = 0; k < 300; k++) rows.push(Array.from({ length: 4 }, () => BigInt(Math.round((r() * 2 - 1) * 2 ** (8 + 6 * r())))));
      for (const x of rows) {
        const y = normalizeInts(norm, x, s);
        const xf = Float64Array.from(x, (v) => Number(v) / 2 ** s);
        const want = evalFloat(handIr(4, [layer], 'none', 4), xf).output;
        const n =
          norm === 'L1'
            ? x.reduce((a, v) => a + (v < 0n ? -v : v), 0n)
            : norm === 'L2'
              ? isqrt(x.reduce((a, v) => a + v * v, 0n))
              : x.reduce((a, v) => (v > a ? v : a));
        const an = n < 0n ? -n : n;
        // Rounding: half a unit; L2's floored root adds at most 2^s / n units.
        const tol = 0.5 + (norm === 'L2' && an > 0n ? 2 ** s / Number(an) : 0) + 1e-9;
        y.forEach((v, i) => expect(Math.abs(Number(v) - want[i] * 2 ** s), `${norm} ${x} [${i}]`).toBeLessThanOrEqual(tol));
        if (an === 0n) expect(y).toEqual(x);
      }
    },
  );

  it("MAX is onnxruntime's signed maximum: a negative maximum flips the row, a zero maximum over negatives leaves it", () => {
    const one = 1n << BigInt(s);
    expect(normalizeInts('MAX', [-1n * one, -2n * one, -4n * one], s)).toEqual([one, 2n * one, 4n * one]);
    expect(normalizeInts('MAX', [-one, 0n, 0n], s)).toEqual([-one, 0n, 0n]);
    expect(normalizeInts('MAX', [3n * one, -4n * one, 0n], s)).toEqual([one, -341n, 0n]);
  });

  it('refuses settings whose activations cannot hold 1.0, and widths that could wrap the field', () => {
    for (const layer of [
      { kind: 'normalize', name: 'norm', size: 2, norm: 'L1', nodes: [] },
      { kind: 'binarize', name: 'bin', size: 2, threshold: Float64Array.of(0, 0), nodes: [] },
    ] as Layer[]) {
      expect(() => quantizeModel(handIr(2, [layer], 'none', 2), { scaleBits: 10, bits: 21 })).toThrow(
        expect.objectContaining({ code: 'SETTINGS', field: 'bits', message: expect.stringMatching(/needs bits >= 2 \* scale \+ 2 = 22/) }),
      );
      expect(() => quantizeModel(handIr(2, [layer], 'none', 2), { scaleBits: 10, bits: 22 })).not.toThrow();
    }
    expect(() =>
      quantizeModel(handIr(4, [{ kind: 'normalize', name: 'wide', size: 4, norm: 'L1', nodes: [] }], 'none', 4), { scaleBits: 2, bits: 128 }),
    ).toThrow(expect.objectContaining({ code: 'FIELD_OVERFLOW', field: 'wide' }));
    // The same norm at the default settings fits with room to spare.
    expect(planNormalize('L1', 4, 22, 10, 22, 'ok').divBits).toBe(24);
  });

  it("the estimate states the generator's count for every norm, with and without sign digits before it, first or not", () => {
    const r = rng(4);
    const n = (norm: NormalizeLayer['norm'], size: number): Layer => ({ kind: 'normalize', name: `n${norm}`, size, norm, nodes: [] });
    const relu = (size: number): Layer => ({ kind: 'relu', name: 'relu', size, nodes: [] });
    const irs = [
      handIr(3, [n('L1', 3), denseLayer('fc', 3, 2, r), n('L2', 2), n('MAX', 2)], 'softmax', 2),
      handIr(
        3,
        [relu(3), n('L1', 3), { kind: 'binarize', name: 'b', size: 3, threshold: Float64Array.of(0.1, 0, -0.1), nodes: [] }, n('MAX', 3), n('MAX', 3)],
        'none',
        3,
      ),
      handIr(1, [n('MAX', 1), n('L2', 1), n('L1', 1)], 'sigmoid', 1),
      // Rows that copy an input have no sign digits: L1 decomposes every element then.
      handIr(3, [copyDense(), n('L1', 4), n('L1', 4)], 'none', 4),
    ];
    for (const ir of irs) {
      const q = quantizeModel(ir, st);
      expect(estimateConstraints(ir, st).layers.map((l) => l.constraints)).toEqual(generateModelTemplate(q).plan.map((p) => p.constraints));
    }
    // After the copies, the first L1 decomposes its inputs; the second reuses the first's quotient digits.
    const plan = generateModelTemplate(quantizeModel(irs[3], st)).plan;
    expect(plan[1].formula).toMatch(/2 copied/);
    expect(plan[2].formula).toMatch(/^signs 4 x 16 \+/);
    expect(plan[3].formula).toMatch(/^\|x\| 4/);
    const iq = inputQuantFromRanges([0, -1, 0], [3, 1, 0.5], st, (i) => `x[${i}]`);
    for (const ir of [handIr(3, [n('L1', 3)], 'none', 3), handIr(3, [n('MAX', 3)], 'none', 3), handIr(3, [n('L2', 3)], 'none', 3)]) {
      const q = quantizeModel(ir, st, iq);
      expect(estimateConstraints(ir, st, iq).layers.map((l) => l.constraints)).toEqual(generateModelTemplate(q).plan.map((p) => p.constraints));
    }
  });
});
