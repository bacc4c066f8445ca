import type { ClipLayer, Span } from '../model/ir.ts';
import { activationBits } from '../fixed/settings.ts';
import { inSpanFloat, inSpanInt, spanOf, spanRange, toFixed } from './common.ts';
import { type Cursor, type EmitContext, emitSpanned, ind } from './emit.ts';
import { type LayerModule, noneKnown } from './layer.ts';

/** Clip to [min, max]; a null bound is absent (or one the representable range cannot reach). */
export interface QClip {
  kind: 'clip';
  name: string;
  size: number;
  min: bigint | null;
  max: bigint | null;
  span?: Span;
}

/** A clip's count: two comparisons of w + 2 bits per element and bound. */
export interface ClipShape {
  size: number;
  n: number;
  bounds: number;
}

/** Clip(width, ...) per element of `cur`, into signal `t`: `bounds` x (width + 2) constraints each. */
export function emitClip(ctx: EmitContext, t: string, cur: Cursor, width: number, min: bigint | null, max: bigint | null): Cursor {
  ctx.lines.push(
    `${ind}component ${t}Clip[${cur.size}];`,
    `${ind}signal ${t}[${cur.size}];`,
    `${ind}for (var i = 0; i < ${cur.size}; i++) {`,
    `${ind}${ind}${t}Clip[i] = Clip(${width}, ${min === null ? '0, 0' : `1, ${min}`}, ${max === null ? '0, 0' : `1, ${max}`});`,
    `${ind}${ind}${t}Clip[i].in <== ${cur.values}[i];`,
    `${ind}${ind}${t}[i] <== ${t}Clip[i].out;`,
    `${ind}}`,
  );
  return { values: t, pos: null, size: cur.size };
}

function emitClipLayer(layer: QClip, cur: Cursor, ctx: EmitContext): Cursor {
  const t = `l${ctx.index}`;
  ctx.lines.push(`${ind}// ${layer.name}: clip to [${layer.min ?? '-inf'}, ${layer.max ?? 'inf'}] (scale 2^${ctx.q.settings.scaleBits})`);
  return emitClip(ctx, t, cur, activationBits(ctx.q.settings), layer.min, layer.max);
}

const qshape = (layer: QClip): ClipShape => {
  const [lo, hi] = spanRange(layer);
  return { size: layer.size, n: hi - lo, bounds: (layer.min === null ? 0 : 1) + (layer.max === null ? 0 : 1) };
};

export const clip: LayerModule<ClipLayer, QClip, ClipShape> = {
  kind: 'clip',
  qkind: 'clip',
  privacy: 'architecture',
  evalFloat: (layer, x) => inSpanFloat(layer, x, (v) => Math.min(layer.max, Math.max(layer.min, v))),
  quantize(layer, { settings }) {
    const s = settings.scaleBits;
    const w = activationBits(settings);
    const lo = -(1n << BigInt(w - 1));
    const hi = (1n << BigInt(w - 1)) - 1n;
    // A bound outside the representable range never binds: values cannot reach it.
    const min = layer.min === -Infinity ? null : toFixed(layer.min, s, `${layer.name}.min`);
    const max = layer.max === Infinity ? null : toFixed(layer.max, s, `${layer.name}.max`);
    return {
      kind: 'clip',
      name: layer.name,
      size: layer.size,
      min: min === null || min <= lo ? null : min > hi ? hi : min,
      max: max === null || max >= hi ? null : max < lo ? lo : max,
      ...spanOf(layer),
    };
  },
  reference: (layer, x) =>
    inSpanInt(layer, x, (v) => {
      let y = v;
      if (layer.min !== null && y < layer.min) y = layer.min;
      if (layer.max !== null && y > layer.max) y = layer.max;
      return y;
    }),
  shape(layer, { settings }) {
    // As quantize: a bound the representable range cannot reach is dropped.
    const s = settings.scaleBits;
    const w = activationBits(settings);
    const min = layer.min === -Infinity || Math.round(layer.min * 2 ** s) <= -(2 ** (w - 1)) ? 0 : 1;
    const max = layer.max === Infinity || Math.round(layer.max * 2 ** s) >= 2 ** (w - 1) - 1 ? 0 : 1;
    const [lo, hi] = spanRange(layer);
    return { size: layer.size, n: hi - lo, bounds: min + max };
  },
  qshape,
  count({ size, n, bounds }, env) {
    const w = activationBits(env.settings);
    return { constraints: n * bounds * (w + 2), formula: `${n} x ${bounds} x (${w} + 2)`, known: noneKnown(size) };
  },
  emit: (layer, _shape, cur, ctx) => emitSpanned(layer, cur, ctx, emitClipLayer),
};
