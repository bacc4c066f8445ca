import { describe, expect, it } from 'vitest';
import { firstViolated } from '../../src/circuit/index.ts';
import { TREE_LEAF, type TreeEnsembleLayer } from '../../src/model/ir.ts';
import { treeTest } from '../../src/layers/tree-ensemble.ts';
import { type InputQuant, quantizeModel, runReference, type QuantizedModel } from '../../src/quant/index.ts';
import { expectMatches, harness, witnessOutputs } from '../helpers/circuit.ts';
import { handIr } from '../helpers/ir.ts';
import { everyModeTrees, treeLayer } from '../helpers/trees.ts';

/**
 * The integer tree ensemble takes exactly the float model's branches on every input on
 * the fixed-point grid (each feature a multiple of its own 2^-k), including inputs equal
 * to a threshold and one grid step either side: floor / ceil of the thresholds per mode.
 * The circuit gives the same on those inputs.
 */
const st = { scaleBits: 8, bits: 24 };

/** What the integer model must give on an on-grid input: the float path, with the quantized leaf weights summed. */
function floatPathSum(layer: TreeEnsembleLayer, q: QuantizedModel, x: number[]): bigint[] {
  const ql = q.layers.find((l) => l.kind === 'tree_ensemble')!;
  if (ql.kind !== 'tree_ensemble') throw new Error('no tree layer');
  const acc = ql.bias.slice();
  for (const r of layer.roots) {
    let i = r;
    while (layer.mode[i] !== TREE_LEAF) i = treeTest(layer.mode[i], x[layer.feature[i]], layer.threshold[i]) ? layer.trueChild[i] : layer.falseChild[i];
    for (let j = 0; j < layer.outSize; j++) acc[j] += ql.leafWeights[i * layer.outSize + j];
  }
  return acc.map((v) => v >> BigInt(ql.shift));
}

/** On-grid values of feature f at scale 2^k: every threshold's neighbourhood and the ends of the range. */
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

function product(lists: number[][]): number[][] {
  return lists.reduce<number[][]>((acc, l) => acc.flatMap((a) => l.map((v) => [...a, v])), [[]]);
}

describe('tree ensemble quantization', () => {
  const layer = treeLayer('trees', 3, 2, everyModeTrees(3, 2), [0.25, -0.125]);
  const ir = handIr(3, [layer], 'argmax', 2);

  it('at the model scale: the integer branches are the float branches on every on-grid boundary input', () => {
    const q = quantizeModel(ir, st);
    const w = st.bits - st.scaleBits;
    const inputs = product([0, 1, 2].map((f) => gridValues(layer, f, st.scaleBits, w)));
    expect(inputs.length).toBeGreaterThan(500);
    for (const x of inputs) expect(runReference(q, x).output, `x = ${x}`).toEqual(floatPathSum(layer, q, x));
  });

  it('at per-feature scales (a coarse 2^-2 feature, a fine 2^6 one, narrow widths): the same', () => {
    const iq: InputQuant = { scaleBits: [-2, 6, 8], bits: [9, 12, 11], lo: [-500, -30, -4], hi: [500, 30, 4] };
    const q = quantizeModel(ir, st, iq);
    const inputs = product([0, 1, 2].map((f) => gridValues(layer, f, iq.scaleBits[f], iq.bits[f])));
    for (const x of inputs) expect(runReference(q, x).output, `x = ${x}`).toEqual(floatPathSum(layer, q, x));
  });

  it('the circuit agrees with the reference on boundary inputs and satisfies every constraint', async () => {
    const q = quantizeModel(ir, st);
    const h = await harness(q);
    expect(h.compiled.constraints).toBe(h.gen.constraints);
    const constraints = await h.constraints();
    const w = st.bits - st.scaleBits;
    const inputs = product([0, 1, 2].map((f) => gridValues(layer, f, st.scaleBits, w)));
    // Every 17th boundary input (a spread over all three features), about 60 witnesses.
    for (let k = 0; k < inputs.length; k += 17) {
      const ref = runReference(q, inputs[k]);
      const wit = await h.witness(ref.input);
      expectMatches(ref, witnessOutputs(wit, q, h.gen.decisionSize));
      expect(firstViolated(constraints, wit)).toBe(-1);
    }
  });

  it('refuses an ensemble whose output cannot fit the activations, naming the layer', () => {
    const big = treeLayer('huge', 1, 1, [{ f: 0, mode: 'BRANCH_LEQ', t: 0, yes: { leaf: [5000] }, no: { leaf: [-1] } }], [0]);
    expect(() => quantizeModel(handIr(1, [big], 'none', 1), st)).toThrow(expect.objectContaining({ code: 'SETTINGS', field: 'huge' }));
  });
});
