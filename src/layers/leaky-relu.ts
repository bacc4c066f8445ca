import { ZkinferError } from '../core/errors.ts';
import type { LeakyReluLayer, Span } from '../model/ir.ts';
import { FIELD_ORDER } from '../fixed/field.ts';
import { activationBits } from '../fixed/settings.ts';
import { checkWidth, floorShift, inSpanFloat, inSpanInt, spanOf, toFixed } from './common.ts';
import { type Cursor, type EmitContext, emitSpanned, ind, signDigits } from './emit.ts';
import { type LayerModule, noneKnown } from './layer.ts';
import { type ElementwiseShape, elementwiseShape } from './relu.ts';

/** LeakyRelu or PRelu: x for x >= 0, alpha_i x below, rounded to nearest. */
export interface QLeakyRelu {
  kind: 'leaky_relu';
  name: string;
  size: number;
  /** round(alpha * 2^s) */
  alpha: bigint[];
  span?: Span;
}

function emitLeakyRelu(layer: QLeakyRelu, cur: Cursor, ctx: EmitContext): Cursor {
  const { scaleBits: s, bits: B } = ctx.q.settings;
  const w = activationBits(ctx.q.settings);
  const t = `l${ctx.index}`;
  ctx.lines.push(`${ind}// ${layer.name}: leaky relu, slopes at scale 2^${s}`);
  const { pos } = signDigits(cur, w, ctx, t);
  ctx.lines.push(
    `${ind}var ${t}A[${layer.size}] = [${layer.alpha.join(',')}];`,
    `${ind}component ${t}Lr[${layer.size}];`,
    `${ind}signal ${t}[${layer.size}];`,
    `${ind}for (var i = 0; i < ${layer.size}; i++) {`,
    `${ind}${ind}${t}Lr[i] = LeakyReluFromSign(${B}, ${s}, ${t}A[i]);`,
    `${ind}${ind}${t}Lr[i].in <== ${cur.values}[i];`,
    `${ind}${ind}${t}Lr[i].pos <== ${pos}[i];`,
    `${ind}${ind}${t}[i] <== ${t}Lr[i].out;`,
    `${ind}}`,
  );
  return { values: t, pos: null, size: layer.size };
}

export const leakyRelu: LayerModule<LeakyReluLayer, QLeakyRelu, ElementwiseShape> = {
  kind: 'leaky_relu',
  qkind: 'leaky_relu',
  privacy: 'architecture',
  evalFloat: (layer, x) => inSpanFloat(layer, x, (v, i) => (v >= 0 ? v : layer.alpha[i] * v)),
  quantize: (layer, { settings }) => ({
    kind: 'leaky_relu',
    name: layer.name,
    size: layer.size,
    alpha: Array.from(layer.alpha, (v, i) => toFixed(v, settings.scaleBits, `${layer.name}.alpha[${i}]`)),
    ...spanOf(layer),
  }),
  checkWrap(layer, { settings }) {
    const xMax = 1n << BigInt(activationBits(settings) - 1);
    for (const a of layer.alpha) {
      const bound = (a < 0n ? -a : a) * xMax + (1n << BigInt(settings.scaleBits));
      if (bound >= FIELD_ORDER / 2n) throw new ZkinferError('FIELD_OVERFLOW', `${layer.name}: slope too large for the field`, layer.name);
    }
  },
  reference(layer, x, st) {
    const s = st.scaleBits;
    return inSpanInt(layer, x, (v, i) => {
      const t = (v >= 0n ? v << BigInt(s) : layer.alpha[i] * v) + (1n << BigInt(s - 1));
      checkWidth(t, st.bits, `${layer.name}[${i}]`);
      return floorShift(t, s);
    });
  },
  shape: elementwiseShape,
  qshape: elementwiseShape,
  count({ size, n }, env) {
    const B = env.settings.bits;
    const w = activationBits(env.settings);
    const per = 1 + B + (env.known ? 0 : w);
    return { constraints: n * per, formula: env.known ? `${n} x (1 + ${B})` : `${n} x (${w} + 1 + ${B})`, known: noneKnown(size) };
  },
  emit: (layer, _shape, cur, ctx) => emitSpanned(layer, cur, ctx, emitLeakyRelu, ['alpha']),
};
