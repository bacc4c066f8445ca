import type { NormalizeLayer, Span } from '../model/ir.ts';
import { firstLayerInput, isDefaultInputQuant } from '../fixed/input-quant.ts';
import { type NormalizePlan, normalizeCost, normalizeInts, planNormalize } from './ml-plan.ts';
import { activationBits } from '../fixed/settings.ts';
import { checkOneFits, checkWidth, spanOf, spanRange } from './common.ts';
import { type Cursor, type EmitContext, emitSpanned, ind, signDigits } from './emit.ts';
import { allKnown, type LayerModule, noneKnown } from './layer.ts';

/** y = x / norm(x) at scale 2^s, rounded half up; y = x when the norm is 0 (see ml-plan.ts). */
export interface QNormalize {
  kind: 'normalize';
  name: string;
  size: number;
  /** Over the span's elements (`plan.size` of them), the others carried. */
  plan: NormalizePlan;
  span?: Span;
}

/** What a normalize layer's count depends on: its plan (and whether it acts on a span). */
export interface NormalizeShape {
  size: number;
  spanned: boolean;
  plan: NormalizePlan;
}

/** onnxruntime's Normalizer on one row: MAX divides by the largest value (signed); a zero norm leaves the row as it is. */
function normalizeFloat(norm: 'L1' | 'L2' | 'MAX', x: Float64Array): Float64Array {
  let n: number;
  if (norm === 'L1') n = x.reduce((a, v) => a + Math.abs(v), 0);
  else if (norm === 'L2') n = Math.sqrt(x.reduce((a, v) => a + v * v, 0));
  else n = x.reduce((a, v) => Math.max(a, v), -Infinity);
  return n === 0 ? Float64Array.from(x) : x.map((v) => v / n);
}

/** Normalizer: NormL1 / NormL2 / NormMax (circuits/zkinfer.circom) with the widths of `layer.plan`. */
function emitNormalize(layer: QNormalize, cur: Cursor, ctx: EmitContext): Cursor {
  const t = `l${ctx.index}`;
  const p = layer.plan;
  const s = p.scaleBits;
  ctx.lines.push(
    `${ind}// ${layer.name}: ${p.norm} normalisation of ${p.size} values of ${p.xBits} bits, y = x / norm at scale ` +
      `2^${s} rounded (x when the norm is 0); divisors below 2^${p.divBits}`,
  );
  // L1 takes |x_i| from the sign digits: the known ones (in their order), else decomposed.
  const sign = p.norm === 'L1' ? signDigits(cur, p.xBits, ctx, t).pos : null;
  const args =
    p.norm === 'L1'
      ? [p.size, p.outBits, p.divBits, s]
      : p.norm === 'L2'
        ? [p.size, p.outBits, p.divBits, p.rootBits, p.gapBits, s]
        : [p.size, p.xBits, p.outBits, p.divBits, s];
  const tpl = p.norm === 'L1' ? 'NormL1' : p.norm === 'L2' ? 'NormL2' : 'NormMax';
  ctx.lines.push(`${ind}component ${t}Nm = ${tpl}(${args.join(', ')});`, `${ind}${t}Nm.in <== ${cur.values};`);
  if (sign) ctx.lines.push(`${ind}${t}Nm.sign <== ${sign};`);
  return { values: `${t}Nm.out`, pos: `${t}Nm.pos`, size: p.size };
}

export const normalize: LayerModule<NormalizeLayer, QNormalize, NormalizeShape> = {
  kind: 'normalize',
  qkind: 'normalize',
  evalFloat(layer, x) {
    const [lo, hi] = layer.span ?? [0, x.length];
    const y = Float64Array.from(x);
    y.set(normalizeFloat(layer.norm, x.slice(lo, hi)), lo);
    return y;
  },
  quantize(layer, { settings, input }) {
    // A first normalize layer reads its inputs at the model's scale (`absorbInputScales`
    // refuses lowered input scales before it), up to their own widths.
    checkOneFits(layer, settings);
    const w = activationBits(settings);
    const [lo, hi] = spanRange(layer);
    const xBits = input ? Math.max(...input.widths.slice(lo, hi)) : w;
    const plan = planNormalize(layer.norm, hi - lo, xBits, settings.scaleBits, w, layer.name);
    return { kind: 'normalize', name: layer.name, size: layer.size, plan, ...spanOf(layer) };
  },
  reference(layer, x, st) {
    // The circuit range-checks each quotient to the activation width: a MAX normalisation
    // by a small maximum can exceed it.
    const w = activationBits(st);
    const [lo, hi] = layer.span ?? [0, x.length];
    const y = normalizeInts(layer.plan.norm, x.slice(lo, hi), st.scaleBits);
    y.forEach((v, i) => checkWidth(v, w, `${layer.name}[${lo + i}]`));
    return [...x.slice(0, lo), ...y, ...x.slice(hi)];
  },
  shape(layer, ctx) {
    // As quantize: a first layer reads the inputs at their own widths.
    const st = ctx.settings;
    const w = activationBits(st);
    const iq = ctx.inputQuant;
    const first = ctx.first && iq && !isDefaultInputQuant(iq, st) ? firstLayerInput(st, layer.size, iq) : null;
    const [a, b] = spanRange(layer);
    const widths = (first?.widths ?? new Array(layer.size).fill(w)).slice(a, b);
    return { size: layer.size, spanned: !!layer.span, plan: planNormalize(layer.norm, b - a, first ? Math.max(...widths) : w, st.scaleBits, w, layer.name) };
  },
  qshape: (layer) => ({ size: layer.size, spanned: !!layer.span, plan: layer.plan }),
  // The quotients are range-checked: their sign digits are known (not on a span: `emitSpanned` carries none).
  count: ({ size, spanned, plan }, env) => ({ ...normalizeCost(plan, env.known), known: spanned ? noneKnown(size) : allKnown(size) }),
  emit: (layer, _shape, cur, ctx) => emitSpanned(layer, cur, ctx, emitNormalize),
};
