import type { ReluLayer, Span } from '../model/ir.ts';
import { activationBits } from '../fixed/settings.ts';
import { inSpanFloat, inSpanInt, spanOf, spanRange } from './common.ts';
import { type Cursor, type EmitContext, emitSpanned, ind, signDigits } from './emit.ts';
import { type LayerModule, noneKnown } from './layer.ts';

export interface QRelu {
  kind: 'relu';
  name: string;
  size: number;
  span?: Span;
}

/** What an elementwise layer's count depends on: the vector's size and its span's (`n`). */
export interface ElementwiseShape {
  size: number;
  n: number;
}

/** The shape of an elementwise layer, float or quantized. */
export const elementwiseShape = (layer: { size: number; span?: Span }): ElementwiseShape => {
  const [lo, hi] = spanRange(layer);
  return { size: layer.size, n: hi - lo };
};

/** max(0, x) = x times its sign digit: one product, after a decomposition when the sign digit is not known. */
function emitRelu(layer: QRelu, cur: Cursor, ctx: EmitContext): Cursor {
  const w = activationBits(ctx.q.settings);
  const t = `l${ctx.index}`;
  ctx.lines.push(`${ind}// ${layer.name}: relu`);
  const { pos } = signDigits(cur, w, ctx, t);
  ctx.lines.push(
    `${ind}signal ${t}[${layer.size}];`,
    `${ind}for (var i = 0; i < ${layer.size}; i++) {`,
    `${ind}${ind}${t}[i] <== ${cur.values}[i] * ${pos}[i];`,
    `${ind}}`,
  );
  return { values: t, pos: null, size: layer.size };
}

export const relu: LayerModule<ReluLayer, QRelu, ElementwiseShape> = {
  kind: 'relu',
  qkind: 'relu',
  privacy: 'architecture',
  evalFloat: (layer, x) => inSpanFloat(layer, x, (v) => Math.max(0, v)),
  quantize: (layer) => ({ kind: 'relu', name: layer.name, size: layer.size, ...spanOf(layer) }),
  reference: (layer, x) => inSpanInt(layer, x, (v) => (v > 0n ? v : 0n)),
  shape: elementwiseShape,
  qshape: elementwiseShape,
  count({ size, n }, env) {
    const w = activationBits(env.settings);
    const known = noneKnown(size);
    return env.known ? { constraints: n, formula: `${n} x 1`, known } : { constraints: n * (w + 1), formula: `${n} x (${w} + 1)`, known };
  },
  emit: (layer, _shape, cur, ctx) => emitSpanned(layer, cur, ctx, emitRelu),
};
