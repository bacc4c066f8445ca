import { ZkinferError } from '../core/errors.ts';
import type { DenseLayer, SparseLayer } from '../model/ir.ts';
import { FIELD_ORDER } from '../fixed/field.ts';
import { firstLayerInput } from '../fixed/input-quant.ts';
import { activationBits } from '../fixed/settings.ts';
import { toFixed } from './common.ts';
import { type Cursor, type EmitContext, emitCopies, emitUnpack, ind, list, packSigned, signedWidth, valuesPerWord } from './emit.ts';
import { allKnown, type CountEnv, type LayerCount, type ShapeContext, type WrapContext } from './layer.ts';

/**
 * What dense and sparse layers share: weight quantization, the copy rows of carried
 * values, the rescale after the accumulators (and its count), the no-wrap bound.
 */

/** The quantized weights of a linear layer, in the order the layer lists its terms. */
export interface QLinear {
  name: string;
  inSize: number;
  outSize: number;
  /**
   * Weight scale bits t: at least s, more for layers whose weights are all small
   * (e.g. a folded input standardization), so the largest weight keeps about s
   * significant bits. The rescale then divides by 2^t.
   */
  shift: number;
  /** round(W * 2^t), in the layer's term order. */
  weights: bigint[];
  /**
   * round(b * 2^(s+t)) + 2^(t-1): the extra half unit makes the floor division of
   * the rescale round to nearest.
   */
  bias: bigint[];
}

/** The shape of a linear layer: its rescale of `outSize` accumulators of N bits, and which rows copy an input. */
export interface LinearShape {
  outSize: number;
  shift: number;
  N: number;
  /** Per row the input it copies, or -1; null when a max pool follows (the maxima are rescaled there). */
  src: Int32Array | null;
  /** In a private model: the layer's weights (one product constraint each), read from the parameter witness with its biases. */
  terms?: number;
  /** In a private model: the packing widths of the weights and of the biases (`signedWidth`), which their unpacking range-checks. */
  widths?: { w: number; b: number };
}

/** Extra weight precision is capped: each extra bit costs one constraint per neuron. */
export const MAX_EXTRA_WEIGHT_BITS = 8;
/** Significant bits the small weights of a layer should keep. */
const MIN_SIGNIFICANT_BITS = 6;

/**
 * Weight scale bits for a dense layer: s, or more when many of its weights are small,
 * so that the 10th-percentile nonzero weight keeps about 6 significant bits. This
 * matters when a model works on raw units: a folded standardization turns a
 * credit-score column into weights near 0.01 that a 2^10 scale would round coarsely.
 */
export function weightShift(weights: Float64Array, s: number): number {
  const mags = Array.from(weights, Math.abs)
    .filter((v) => v > 0 && Number.isFinite(v))
    .sort((a, b) => a - b);
  if (mags.length === 0) return s;
  const small = mags[Math.floor(mags.length * 0.1)];
  const have = Math.floor(Math.log2(small * 2 ** s)) + 1;
  return s + Math.min(MAX_EXTRA_WEIGHT_BITS, Math.max(0, MIN_SIGNIFICANT_BITS - have));
}

/** A linear layer's weights at scale 2^t (t from `weightShift`) and biases at 2^(s+t) plus the rounding half. */
export function quantizeLinear(name: string, weights: Float64Array, bias: Float64Array, s: number): { shift: number; weights: bigint[]; bias: bigint[] } {
  const t = weightShift(weights, s);
  return {
    shift: t,
    weights: Array.from(weights, (v, i) => toFixed(v, t, `${name}.weight[${i}]`)),
    bias: Array.from(bias, (v, i) => toFixed(v, s + t, `${name}.bias[${i}]`) + (1n << BigInt(t - 1))),
  };
}

/** Visits row j's terms (input column, weight) of a dense or sparse layer. */
type Terms<W> = (j: number, visit: (col: number, w: W) => boolean) => void;

/** Per row, the one input it takes with weight `one` and a zero bias (`zeroBias`), or -1; `fits(col)` must hold too. */
function copyRows<W>(
  outSize: number,
  terms: Terms<W>,
  zeroBias: (j: number) => boolean,
  weight: (w: W) => 'zero' | 'one' | 'other',
  fits: (c: number) => boolean,
): Int32Array {
  const src = new Int32Array(outSize).fill(-1);
  for (let j = 0; j < outSize; j++) {
    if (!zeroBias(j)) continue;
    let col = -1;
    let ok = true;
    terms(j, (c, w) => {
      const kind = weight(w);
      if (kind === 'zero') return ok;
      if (col >= 0 || kind !== 'one') ok = false;
      col = c;
      return ok;
    });
    if (ok && col >= 0 && fits(col)) src[j] = col;
  }
  return src;
}

/** The terms of a dense layer (weights row-major) or a sparse one (compressed rows). */
function termsOf<W>(layer: { inSize: number; rowPtr?: ArrayLike<number>; cols?: ArrayLike<number> }, weights: ArrayLike<W>): Terms<W> {
  const { rowPtr, cols } = layer;
  if (rowPtr && cols) {
    return (j, visit) => {
      for (let k = rowPtr[j]; k < rowPtr[j + 1] && visit(cols[k], weights[k]); k++);
    };
  }
  return (j, visit) => {
    for (let i = 0; i < layer.inSize && visit(i, weights[j * layer.inSize + i]); i++);
  };
}

/**
 * Which rows of a quantized linear layer copy one input unchanged: a single weight of
 * 2^t and the bias 2^(t-1) (zero plus the rounding half), so the rescale gives the input
 * back exactly. `fits(col)`: whether that input is known to fit the activation width
 * (every activation is; a first layer's inputs may be checked wider). The circuit then
 * copies the value instead of rescaling it (no constraint): carried branches are free.
 * Per row, the source column or -1.
 */
export function copySources(layer: QLinear & { rowPtr?: number[]; cols?: number[] }, fits: (col: number) => boolean): Int32Array {
  const one = 1n << BigInt(layer.shift);
  const half = 1n << BigInt(layer.shift - 1);
  const weight = (w: bigint) => (w === 0n ? 'zero' : w === one ? 'one' : 'other');
  return copyRows(layer.outSize, termsOf(layer, layer.weights), (j) => layer.bias[j] === half, weight, fits);
}

/** `copySources` of the float layer that quantizes with weight shift t (the same rounding as `quantizeLinear`). */
export function copySourcesFloat(layer: DenseLayer | SparseLayer, t: number, s: number, fits: (col: number) => boolean): Int32Array {
  const one = 2 ** t;
  const weight = (v: number) => {
    const w = Math.round(v * one);
    return w === 0 ? 'zero' : w === one ? 'one' : 'other';
  };
  const weights = layer.kind === 'dense' ? layer.weights : layer.vals;
  return copyRows(layer.outSize, termsOf(layer, weights), (j) => Math.round(layer.bias[j] * 2 ** (s + t)) === 0, weight, fits);
}

/** A private linear layer's products and packing widths (a layer without terms has one zero weight). */
function privateTerms(q: { weights: bigint[]; bias: bigint[] }): { terms: number; widths: { w: number; b: number } } {
  const weights = q.weights.length > 0 ? q.weights : [0n];
  return { terms: weights.length, widths: { w: signedWidth(weights), b: signedWidth(q.bias) } };
}

/** The shape of a float linear layer whose weights quantize with shift t (`acc`: a narrower rescale width). */
export function linearShape(layer: DenseLayer | SparseLayer, t: number, ctx: ShapeContext, acc: number | null): LinearShape {
  const st = ctx.settings;
  const w = activationBits(st);
  const terms = ctx.private ? privateTerms(quantizeLinear(layer.name, layer.kind === 'dense' ? layer.weights : layer.vals, layer.bias, st.scaleBits)) : {};
  if (ctx.next === 'maxpool') return { outSize: layer.outSize, shift: t, N: w + t, src: null, ...terms };
  // A private model's rows are all rescaled: which rows copy an input depends on the weights.
  if (ctx.private) return { outSize: layer.outSize, shift: t, N: w + t, src: new Int32Array(layer.outSize).fill(-1), ...terms };
  // As the generator: rows that copy an input are not rescaled (and have no sign digits).
  const firstWidths = firstLayerInput(st, ctx.inputSize, ctx.inputQuant).widths;
  const src = copySourcesFloat(layer, t, st.scaleBits, ctx.first ? (col) => firstWidths[col] <= w : () => true);
  return { outSize: layer.outSize, shift: t, N: acc ?? w + t, src };
}

/** The shape of a quantized linear layer (`accBits`: a first dense layer's narrower rescale). */
export function qlinearShape(layer: QLinear & { rowPtr?: number[]; cols?: number[] }, ctx: EmitContext, accBits?: number): LinearShape {
  // The accumulator's width: activation bits + t, or narrower for a first layer whose inputs are narrower.
  const N = accBits ?? activationBits(ctx.q.settings) + layer.shift;
  const terms = ctx.q.private ? privateTerms(layer) : {};
  if (ctx.next === 'maxpool') return { outSize: layer.outSize, shift: layer.shift, N, src: null, ...terms };
  if (ctx.q.private) return { outSize: layer.outSize, shift: layer.shift, N, src: new Int32Array(layer.outSize).fill(-1), ...terms };
  return { outSize: layer.outSize, shift: layer.shift, N, src: copySources(layer, sourceFits(ctx)) };
}

/** Whether input column `col` of the layer at `index` is known to fit the activation width (see `copySources`). */
function sourceFits(ctx: EmitContext): (col: number) => boolean {
  const w = activationBits(ctx.q.settings);
  if (ctx.index !== 0) return () => true;
  const widths = firstLayerInput(ctx.q.settings, ctx.q.inputSize, ctx.q.inputQuant).widths;
  return (col) => widths[col] <= w;
}

/** The rescale's constraints: N per row that does not copy an input, none when a max pool follows. */
export function linearCount(p: LinearShape, env: CountEnv): LayerCount {
  const c = publicLinearCount(p, env);
  if (p.terms === undefined || !p.widths) return c;
  // Private weights: each product weight x input is a constraint (constant weights make it
  // linear); each weight and bias is range-checked by the unpacking of the words it is packed in.
  const { w, b } = p.widths;
  const unpack = p.terms * w + p.outSize * b;
  const params = Math.ceil(p.terms / valuesPerWord(w)) + Math.ceil(p.outSize / valuesPerWord(b));
  return {
    ...c,
    constraints: c.constraints + p.terms + unpack,
    formula: `${p.terms} products + ${p.terms} x ${w} + ${p.outSize} x ${b} unpacked + ${c.formula}`,
    params,
  };
}

function publicLinearCount(p: LinearShape, _env: CountEnv): LayerCount {
  if (p.src === null) return { constraints: 0, formula: 'rescaled after the max pool', known: allKnown(p.outSize), pooled: p.shift };
  const known = Uint8Array.from(p.src, (c) => (c >= 0 ? 0 : 1));
  const r = known.reduce((a, v) => a + v, 0);
  const copies = p.outSize - r;
  if (copies === 0) return { constraints: p.outSize * p.N, formula: `${p.outSize} x ${p.N}`, known };
  return { constraints: r * p.N, formula: `${r} x ${p.N} (${copies} copied)`, known };
}

/**
 * A private linear layer's products: `${t}Mul` = `template`(...`args`), its weights `w[...]`
 * and biases `b[...]` wired to the parameter witness (linear, no constraint), the weights
 * in the layer's term order, then the biases.
 */
export function emitPrivateLinear(layer: QLinear, t: string, template: string, args: (number | string)[], cur: Cursor, ctx: EmitContext, dense: boolean): void {
  const params = ctx.params!;
  // A sparse layer without terms still has one (zero) weight: circom arrays are never empty.
  const { terms: n, widths } = privateTerms(layer);
  const weights = layer.weights.length > 0 ? layer.weights : [0n];
  // Packed floor(252 / width) to a parameter: the unpacking range-checks each one.
  emitUnpack(ctx, `${t}Wv`, n, widths.w, params.take(packSigned(weights, widths.w)));
  emitUnpack(ctx, `${t}Bv`, layer.outSize, widths.b, params.take(packSigned(layer.bias, widths.b)));
  ctx.lines.push(`${ind}component ${t}Mul = ${template}(${args.join(', ')});`, `${ind}${t}Mul.in <== ${cur.values};`);
  if (dense) {
    ctx.lines.push(
      `${ind}for (var j = 0; j < ${layer.outSize}; j++) {`,
      `${ind}${ind}for (var i = 0; i < ${layer.inSize}; i++) {`,
      `${ind}${ind}${ind}${t}Mul.w[j][i] <== ${t}Wv[j * ${layer.inSize} + i];`,
      `${ind}${ind}}`,
      `${ind}}`,
    );
  } else {
    ctx.lines.push(`${ind}for (var k = 0; k < ${n}; k++) {`, `${ind}${ind}${t}Mul.w[k] <== ${t}Wv[k];`, `${ind}}`);
  }
  ctx.lines.push(`${ind}for (var j = 0; j < ${layer.outSize}; j++) {`, `${ind}${ind}${t}Mul.b[j] <== ${t}Bv[j];`, `${ind}}`);
}

/**
 * The rescale after a linear layer, or nothing when a max pool follows: the pool then
 * compares the accumulators and rescales only the maxima (floor division is
 * nondecreasing, so the result is the same, on a quarter of the values for 2x2 pools).
 */
export function emitRescale(p: LinearShape, t: string, ctx: EmitContext, cur: Cursor): Cursor {
  if (p.src === null) {
    ctx.lines.push(`${ind}// (rescaled after the max pool that follows)`);
    return { values: `${t}Mul.out`, pos: null, size: p.outSize, acc: p.shift };
  }
  const copies: number[] = [];
  const rescaled: number[] = [];
  p.src.forEach((c, j) => (c >= 0 ? copies : rescaled).push(j));
  if (copies.length > 0) return emitRescaleWithCopies(p, t, ctx, cur, copies, rescaled);
  ctx.lines.push(
    `${ind}component ${t}Rs[${p.outSize}];`,
    `${ind}signal ${t}[${p.outSize}];`,
    `${ind}signal ${t}Pos[${p.outSize}];`,
    `${ind}for (var j = 0; j < ${p.outSize}; j++) {`,
    `${ind}${ind}${t}Rs[j] = Rescale(${p.N}, ${p.shift});`,
    `${ind}${ind}${t}Rs[j].in <== ${t}Mul.out[j];`,
    `${ind}${ind}${t}[j] <== ${t}Rs[j].out;`,
    `${ind}${ind}${t}Pos[j] <== ${t}Rs[j].pos;`,
    `${ind}}`,
  );
  return { values: t, pos: `${t}Pos`, size: p.outSize };
}

/**
 * The rescale of a linear layer some of whose rows copy an input (`copySources`): those
 * take the input as it is (it is already range-checked to the activation width, and the
 * rescale would give it back exactly), the others are rescaled as usual.
 */
function emitRescaleWithCopies(p: LinearShape, t: string, ctx: EmitContext, cur: Cursor, copies: number[], rescaled: number[]): Cursor {
  const r = rescaled.length;
  ctx.lines.push(`${ind}signal ${t}[${p.outSize}];`);
  if (r > 0) {
    ctx.lines.push(
      `${ind}var ${t}Ri[${r}] = ${list(rescaled)};`,
      `${ind}component ${t}Rs[${r}];`,
      `${ind}signal ${t}Pos[${r}];`,
      `${ind}for (var k = 0; k < ${r}; k++) {`,
      `${ind}${ind}${t}Rs[k] = Rescale(${p.N}, ${p.shift});`,
      `${ind}${ind}${t}Rs[k].in <== ${t}Mul.out[${t}Ri[k]];`,
      `${ind}${ind}${t}[${t}Ri[k]] <== ${t}Rs[k].out;`,
      `${ind}${ind}${t}Pos[k] <== ${t}Rs[k].pos;`,
      `${ind}}`,
    );
  }
  ctx.lines.push(`${ind}// ${copies.length} rows copy an input (a carried value): no rescale`);
  emitCopies(
    t,
    copies,
    copies.map((j) => p.src![j]),
    cur,
    ctx,
  );
  const posIdx = new Int32Array(p.outSize).fill(-1);
  rescaled.forEach((j, k) => (posIdx[j] = k));
  return { values: t, pos: r > 0 ? `${t}Pos` : null, size: p.outSize, posIdx };
}

/**
 * A linear layer's accumulator is at most sum|W| * 2^(w-1) + |b| in magnitude (every
 * activation is range-checked to w bits); it must stay below p/2 so that a field element
 * and the signed integer it stands for agree (see `checkNoWrap`).
 */
export function checkLinearWrap(layer: QLinear & { rowPtr?: number[]; cols?: number[] }, ctx: WrapContext): void {
  const xMax = 1n << BigInt(activationBits(ctx.settings) - 1);
  const limit = FIELD_ORDER / 2n;
  // Accumulators a max pool compares before their rescale are subtracted from each
  // other: their differences must not wrap either.
  const pooled = ctx.next === 'maxpool';
  const lim = pooled ? limit / 2n : limit;
  const terms = termsOf(layer, layer.weights);
  for (let j = 0; j < layer.outSize; j++) {
    let bound = layer.bias[j] < 0n ? -layer.bias[j] : layer.bias[j];
    terms(j, (_, v) => {
      bound += (v < 0n ? -v : v) * xMax;
      return true;
    });
    if (bound >= lim) {
      throw new ZkinferError(
        'FIELD_OVERFLOW',
        `${layer.name}: neuron ${j} could reach ${bound} > p/${pooled ? 4 : 2} and wrap around the field; use a smaller scale or bit width`,
        layer.name,
      );
    }
  }
}
