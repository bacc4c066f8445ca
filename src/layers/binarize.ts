import type { BinarizeLayer, Span } from '../model/ir.ts';
import { firstLayerInput, isDefaultInputQuant } from '../fixed/input-quant.ts';
import { binarizeCost, binarizeThreshold } from './ml-plan.ts';
import { activationBits } from '../fixed/settings.ts';
import { checkOneFits, inSpanFloat, inSpanInt, spanOf, spanRange } from './common.ts';
import { type Cursor, type EmitContext, emitSpanned, ind, list } from './emit.ts';
import { type LayerModule, noneKnown } from './layer.ts';

/** y_i = 2^s (1.0) when x_i > threshold[i], else 0. */
export interface QBinarize {
  kind: 'binarize';
  name: string;
  size: number;
  /** Per element: floor(t·2^k), k the scale x_i is stored at, clamped to its range (`binarizeThreshold`). */
  threshold: bigint[];
  /** Per element: the signed width of x_i (the activation width, or a first layer's input widths). */
  widths: number[];
  span?: Span;
}

/** What a binarize layer's count depends on: the widths of its span's elements. */
export interface BinarizeShape {
  size: number;
  widths: number[];
}

/**
 * Binarizer: y_i = 2^s (1.0) when x_i > T_i, else 0. The sign digit of x_i - T_i - 1 from a
 * decomposition of width b_i + 1 (b_i: x_i's width, so the difference always fits; see
 * `binarizeThreshold`), times 2^s (linear). One component array per distinct width.
 */
function emitBinarize(layer: QBinarize, cur: Cursor, ctx: EmitContext): Cursor {
  const t = `l${ctx.index}`;
  const one = 1n << BigInt(ctx.q.settings.scaleBits);
  const byWidth = new Map<number, number[]>();
  layer.widths.forEach((b, i) => byWidth.set(b, [...(byWidth.get(b) ?? []), i]));
  ctx.lines.push(
    `${ind}// ${layer.name}: binarize, y_i = ${one} (1.0) when x_i > T_i (x_i - T_i - 1 >= 0), else 0`,
    `${ind}var ${t}T[${layer.size}] = ${list(layer.threshold)};`,
    `${ind}signal ${t}[${layer.size}];`,
  );
  for (const [b, idx] of [...byWidth.entries()].sort((x, y) => x[0] - y[0])) {
    const c = `${t}B${b}`;
    ctx.lines.push(
      `${ind}var ${c}Idx[${idx.length}] = ${list(idx)};`,
      `${ind}component ${c}[${idx.length}];`,
      `${ind}for (var k = 0; k < ${idx.length}; k++) {`,
      `${ind}${ind}${c}[k] = Rescale(${b + 1}, 0);`,
      `${ind}${ind}${c}[k].in <== ${cur.values}[${c}Idx[k]] - ${t}T[${c}Idx[k]] - 1;`,
      `${ind}${ind}${t}[${c}Idx[k]] <== ${c}[k].pos * ${one};`,
      `${ind}}`,
    );
  }
  return { values: t, pos: null, size: layer.size };
}

export const binarize: LayerModule<BinarizeLayer, QBinarize, BinarizeShape> = {
  kind: 'binarize',
  qkind: 'binarize',
  evalFloat: (layer, x) => inSpanFloat(layer, x, (v, i) => (v > layer.threshold[i] ? 1 : 0)),
  // A first Binarizer compares each feature at its own scale (its output, 0 or 1.0, is at the model's scale).
  absorbScales: (layer) => layer,
  quantize(layer, { settings, input }) {
    // A first binarize layer compares each feature at its own scale and width (as a first
    // tree ensemble does); its output is at the model's scale whatever the inputs' scales.
    checkOneFits(layer, settings);
    const w = activationBits(settings);
    const widths = Array.from({ length: layer.size }, (_, i) => input?.widths[i] ?? w);
    const threshold = Array.from(layer.threshold, (t, i) => binarizeThreshold(t, input?.scales[i] ?? settings.scaleBits, widths[i]));
    return { kind: 'binarize', name: layer.name, size: layer.size, threshold, widths, ...spanOf(layer) };
  },
  reference(layer, x, st) {
    const one = 1n << BigInt(st.scaleBits);
    return inSpanInt(layer, x, (v, i) => (v > layer.threshold[i] ? one : 0n));
  },
  shape(layer, ctx) {
    // As quantize: a first layer reads the inputs at their own widths.
    const st = ctx.settings;
    const iq = ctx.inputQuant;
    const first = ctx.first && iq && !isDefaultInputQuant(iq, st) ? firstLayerInput(st, layer.size, iq) : null;
    const [a, b] = spanRange(layer);
    return { size: layer.size, widths: (first?.widths ?? new Array(layer.size).fill(activationBits(st))).slice(a, b) };
  },
  qshape(layer) {
    const [a, b] = spanRange(layer);
    return { size: layer.size, widths: layer.widths.slice(a, b) };
  },
  count: ({ size, widths }) => ({ ...binarizeCost(widths), known: noneKnown(size) }),
  emit: (layer, _shape, cur, ctx) => emitSpanned(layer, cur, ctx, emitBinarize, ['threshold', 'widths']),
};
