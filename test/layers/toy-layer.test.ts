import { beforeAll, describe, expect, it } from 'vitest';
import { firstViolated } from '../../src/circuit/index.ts';
import { checkWidth, floorShift } from '../../src/layers/common.ts';
import { ind } from '../../src/layers/emit.ts';
import { type LayerModule, registerLayer } from '../../src/layers/index.ts';
import { allKnown } from '../../src/layers/layer.ts';
import { evalFloat } from '../../src/quant/float-eval.ts';
import type { Layer } from '../../src/model/ir.ts';
import { activationBits, estimateConstraints, quantizeModel, runReference } from '../../src/quant/index.ts';
import { expectMatches, harness, type Harness, witnessOutputs } from '../helpers/circuit.ts';
import { denseLayer, handIr, rng } from '../helpers/ir.ts';

/**
 * Adding a layer kind is one module plus its template: a toy `square` kind (y = x^2,
 * elementwise, rescaled by 2^s with rounding), written here with its circom template
 * inline, registered, and run through the whole pipeline: quantization, the integer
 * reference, the constraint estimate, the generated circuit compiled by circom.
 */
interface SquareLayer {
  kind: 'square';
  name: string;
  size: number;
  nodes: string[];
}
interface QSquare {
  kind: 'square';
  name: string;
  size: number;
}

const square: LayerModule<SquareLayer, QSquare, { size: number }> = {
  kind: 'square',
  qkind: 'square',
  evalFloat: (_layer, x) => x.map((v) => v * v),
  quantize: (layer) => ({ kind: 'square', name: layer.name, size: layer.size }),
  reference(layer, x, st) {
    const s = st.scaleBits;
    return x.map((v, i) => {
      const p = v * v + (1n << BigInt(s - 1));
      checkWidth(p, activationBits(st) + s, `${layer.name}[${i}]`);
      return floorShift(p, s);
    });
  },
  shape: (layer) => ({ size: layer.size }),
  qshape: (layer) => ({ size: layer.size }),
  count({ size }, env) {
    const N = activationBits(env.settings) + env.settings.scaleBits;
    return { constraints: size * (1 + N), formula: `${size} x (1 + ${N})`, known: allKnown(size) };
  },
  emit(layer, _shape, cur, ctx) {
    const t = `l${ctx.index}`;
    const s = ctx.q.settings.scaleBits;
    ctx.lines.push(
      `${ind}// ${layer.name}: x^2 rescaled by 2^${s}`,
      `${ind}component ${t}Sq[${layer.size}];`,
      `${ind}signal ${t}[${layer.size}];`,
      `${ind}signal ${t}Pos[${layer.size}];`,
      `${ind}for (var i = 0; i < ${layer.size}; i++) {`,
      `${ind}${ind}${t}Sq[i] = ToySquare(${activationBits(ctx.q.settings) + s}, ${s});`,
      `${ind}${ind}${t}Sq[i].in <== ${cur.values}[i];`,
      `${ind}${ind}${t}[i] <== ${t}Sq[i].out;`,
      `${ind}${ind}${t}Pos[i] <== ${t}Sq[i].pos;`,
      `${ind}}`,
    );
    return { values: t, pos: `${t}Pos`, size: layer.size };
  },
  templates: [
    '// The toy square layer: in^2, rescaled by 2^S (rounded) and range-checked to N bits.',
    'template ToySquare(N, S) {',
    '    signal input in;',
    '    signal output out;',
    '    signal output pos;',
    '    signal p;',
    '    p <== in * in;',
    '    component r = Rescale(N, S);',
    '    r.in <== p + (1 << (S - 1));',
    '    out <== r.out;',
    '    pos <== r.pos;',
    '}',
    '',
  ].join('\n'),
};

describe('a toy layer kind registered from a test', () => {
  registerLayer(square);
  const r = rng(11);
  const sq = { kind: 'square', name: 'sq', size: 4, nodes: ['sq'] } as unknown as Layer;
  // The relu after the square reuses its sign digits (4 x 1).
  const ir = handIr(3, [denseLayer('fc1', 3, 4, r), sq, { kind: 'relu', name: 'relu', size: 4, nodes: [] }, denseLayer('fc2', 4, 2, r)], 'softmax', 2);
  const st = { scaleBits: 8, bits: 24 };
  const q = quantizeModel(ir, st);
  let h: Harness;
  beforeAll(async () => {
    h = await harness(q);
  });

  it('is estimated exactly: the estimate, the generator and circom agree layer by layer', () => {
    const est = estimateConstraints(ir, st);
    expect(est.layers.map((l) => l.constraints)).toEqual(h.gen.plan.map((p) => p.constraints));
    expect(h.gen.plan.find((p) => p.name === 'sq')).toMatchObject({ constraints: 4 * (1 + 16 + 8), formula: '4 x (1 + 24)' });
    expect(h.gen.plan.find((p) => p.name === 'relu')?.constraints).toBe(4);
    expect(est.total).toBe(h.gen.constraints);
    expect(h.compiled.constraints).toBe(h.gen.constraints);
  });

  it('outputs the integer reference bit for bit, close to the float model', async () => {
    const constraints = await h.constraints();
    const rx = rng(5);
    for (let t = 0; t < 10; t++) {
      const x = Array.from({ length: 3 }, () => (rx() * 2 - 1) * 2);
      const ref = runReference(q, x);
      const w = await h.witness(ref.input);
      expectMatches(ref, witnessOutputs(w, q, h.gen.decisionSize));
      expect(firstViolated(constraints, w)).toBe(-1);
      const float = evalFloat(ir, x).logits;
      ref.output.forEach((v, i) => expect(Math.abs(Number(v) / 2 ** st.scaleBits - float[i])).toBeLessThan(0.1));
    }
  });
});
