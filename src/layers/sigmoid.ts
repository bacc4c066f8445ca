import { ZkinferError } from '../core/errors.ts';
import type { SigmoidLayer, Span } from '../model/ir.ts';
import { activationBits } from '../fixed/settings.ts';
import { floorShift, inSpanFloat, inSpanInt, spanOf } from './common.ts';
import { emitClip } from './clip.ts';
import { type Cursor, type EmitContext, emitSpanned, ind } from './emit.ts';
import { type LayerModule, noneKnown } from './layer.ts';
import { type ElementwiseShape, elementwiseShape } from './relu.ts';

/** An inner sigmoid, approximated by clip(x/4 + 1/2, 0, 1), rounded to nearest. */
export interface QHardSigmoid {
  kind: 'hard_sigmoid';
  name: string;
  size: number;
  span?: Span;
}

function emitHardSigmoid(layer: QHardSigmoid, cur: Cursor, ctx: EmitContext): Cursor {
  const s = ctx.q.settings.scaleBits;
  const w = activationBits(ctx.q.settings);
  const t = `l${ctx.index}`;
  const one = 1n << BigInt(s);
  ctx.lines.push(
    `${ind}// ${layer.name}: sigmoid approximated by clip(x / 4 + 1/2, 0, 1), rounded`,
    `${ind}component ${t}Q[${layer.size}];`,
    `${ind}signal ${t}U[${layer.size}];`,
    `${ind}for (var i = 0; i < ${layer.size}; i++) {`,
    `${ind}${ind}${t}Q[i] = Rescale(${w + 2}, 2);`,
    `${ind}${ind}${t}Q[i].in <== ${cur.values}[i] + ${2n * one + 2n};`,
    `${ind}${ind}${t}U[i] <== ${t}Q[i].out;`,
    `${ind}}`,
  );
  return emitClip(ctx, t, { values: `${t}U`, pos: null, size: layer.size }, w, 0n, one);
}

export const sigmoid: LayerModule<SigmoidLayer, QHardSigmoid, ElementwiseShape> = {
  kind: 'sigmoid',
  qkind: 'hard_sigmoid',
  privacy: 'architecture',
  evalFloat: (layer, x) => inSpanFloat(layer, x, (v) => 1 / (1 + Math.exp(-v))),
  checkSettings(_layer, st) {
    if (activationBits(st) < st.scaleBits + 2) {
      throw new ZkinferError('SETTINGS', `an inner Sigmoid needs bits >= 2 * scale + 2 = ${2 * st.scaleBits + 2} so that 1.0 is representable`, 'bits');
    }
  },
  quantize: (layer) => ({ kind: 'hard_sigmoid', name: layer.name, size: layer.size, ...spanOf(layer) }),
  reference(layer, x, st) {
    // clip(x/4 + 1/2, 0, 1), rounded to nearest.
    const one = 1n << BigInt(st.scaleBits);
    return inSpanInt(layer, x, (v) => {
      const u = floorShift(v + 2n * one + 2n, 2);
      return u < 0n ? 0n : u > one ? one : u;
    });
  },
  shape: elementwiseShape,
  qshape: elementwiseShape,
  count({ size, n }, env) {
    const w = activationBits(env.settings);
    // The rescale of x / 4 + 1/2, then a clip to [0, 1]: two bounds.
    return { constraints: n * (w + 2) + n * 2 * (w + 2), formula: `${n} x (${w} + 2 + 2 x (${w} + 2))`, known: noneKnown(size) };
  },
  emit: (layer, _shape, cur, ctx) => emitSpanned(layer, cur, ctx, emitHardSigmoid),
};
