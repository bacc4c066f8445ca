import { ZkinferError } from '../core/errors.ts';
import { type ConvStructure, type DenseLayer, type Head, type IrInput, type Layer, type ModelIR, type Span, type SparseLayer, TREE_LEAF } from '../model/ir.ts';
import { FIELD_ORDER } from './field.ts';
import { inputMagnitude, type InputQuant, isDefaultInputQuant, isUnsigned } from './input-quant.ts';
import { activationBits, type QuantSettings, validateSettings } from './settings.ts';
import { planTrees, treeShift, type TreePlan } from './tree-plan.ts';
import { binarizeThreshold, type NormalizePlan, planNormalize } from './ml-plan.ts';

/**
 * A quantized layer. Values are integers at scale 2^s (activations) and 2^(2s)
 * (dense accumulators before their rescale).
 */
export type QLayer =
  | {
      kind: 'dense';
      name: string;
      inSize: number;
      outSize: number;
      /**
       * Weight scale bits t: at least s, more for layers whose weights are all small
       * (e.g. a folded input standardization), so the largest weight keeps about s
       * significant bits. The rescale then divides by 2^t.
       */
      shift: number;
      /** round(W * 2^t), row-major. */
      weights: bigint[];
      /**
       * round(b * 2^(s+t)) + 2^(t-1): the extra half unit makes the floor division of
       * the rescale round to nearest.
       */
      bias: bigint[];
      /**
       * Width of the accumulator's range-checked decomposition (the rescale), when it is
       * narrower than activation bits + t: the first layer's accumulator is bounded by its
       * inputs' own widths (narrow per-feature input checks), |acc| <= |b| + sum |W| 2^(b_i - 1).
       */
      accBits?: number;
    }
  | {
      /** As dense, with the weights of row j at `weights[rowPtr[j] .. rowPtr[j + 1])`, on inputs `cols[...]`. */
      kind: 'sparse';
      name: string;
      inSize: number;
      outSize: number;
      shift: number;
      rowPtr: number[];
      cols: number[];
      weights: bigint[];
      bias: bigint[];
      /** The convolution the terms come from (its kernel quantized alike), for a compact circuit. */
      conv?: Omit<ConvStructure, 'weights'> & { weights: bigint[] };
    }
  | { kind: 'maxpool'; name: string; inSize: number; outSize: number; /** output j is the max of x[idx[rowPtr[j] .. rowPtr[j + 1])] */ rowPtr: number[]; idx: number[] }
  | { kind: 'relu'; name: string; size: number; span?: Span }
  | { kind: 'leaky_relu'; name: string; size: number; /** round(alpha * 2^s) */ alpha: bigint[]; span?: Span }
  | { kind: 'clip'; name: string; size: number; min: bigint | null; max: bigint | null; span?: Span }
  | { kind: 'hard_sigmoid'; name: string; size: number; span?: Span }
  | {
      /** Output k: x[a[k]] * x[b[k]] rescaled by 2^s (rounded to nearest), or x[a[k]] where b[k] is -1. */
      kind: 'mul';
      name: string;
      inSize: number;
      outSize: number;
      a: number[];
      b: number[];
    }
  | {
      kind: 'tree_ensemble';
      name: string;
      inSize: number;
      outSize: number;
      /** Extra fractional bits e of the leaf weights; the sum is rescaled by 2^e. */
      shift: number;
      /** Comparison bits and path indicators (see tree-plan.ts). */
      plan: TreePlan;
      roots: Int32Array;
      /** Per internal node its children; -1 for a leaf. */
      trueChild: Int32Array;
      falseChild: Int32Array;
      /** round(w * 2^(s+e)) per node and output (row-major, nodes x outSize), 0 for internal nodes. */
      leafWeights: bigint[];
      /** round(base * 2^(s+e)) + 2^(e-1) (so the floor of the rescale rounds to nearest; + 0 when e = 0). */
      bias: bigint[];
    }
  | {
      /** y_i = 2^s (1.0) when x_i > threshold[i], else 0. */
      kind: 'binarize';
      name: string;
      size: number;
      /** Per element: floor(t·2^k), k the scale x_i is stored at, clamped to its range (`binarizeThreshold`). */
      threshold: bigint[];
      /** Per element: the signed width of x_i (the activation width, or a first layer's input widths). */
      widths: number[];
      span?: Span;
    }
  | {
      /** y = x / norm(x) at scale 2^s, rounded half up; y = x when the norm is 0 (see ml-plan.ts). */
      kind: 'normalize';
      name: string;
      size: number;
      /** Over the span's elements (`plan.size` of them), the others carried. */
      plan: NormalizePlan;
      span?: Span;
    };

export interface QuantizedModel {
  settings: QuantSettings;
  /** Per-feature scale and width; null when every feature uses the model's scale and width. */
  inputQuant: InputQuant | null;
  inputs: IrInput[];
  inputSize: number;
  layers: QLayer[];
  outputSize: number;
  head: Head;
}

function toFixed(v: number, scale: number, what: string): bigint {
  // Scaling by a power of two is exact in floating point, and BigInt() of an
  // integer-valued double is exact, so large constants are not silently rounded.
  const x = Math.round(v * 2 ** scale);
  if (!Number.isFinite(x)) {
    throw new ZkinferError('MODEL_BAD_WEIGHTS', `${what} = ${v} is not a finite number`, what);
  }
  return BigInt(x);
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
  const mags = Array.from(weights, Math.abs).filter((v) => v > 0 && Number.isFinite(v)).sort((a, b) => a - b);
  if (mags.length === 0) return s;
  const small = mags[Math.floor(mags.length * 0.1)];
  const have = Math.floor(Math.log2(small * 2 ** s)) + 1;
  return s + Math.min(MAX_EXTRA_WEIGHT_BITS, Math.max(0, MIN_SIGNIFICANT_BITS - have));
}

/** Scale and width of each feature a layer reads: the inputs' own for the first layer, else the activations'. */
export interface LayerInputQuant {
  scales: number[];
  widths: number[];
}

/**
 * What the first layer reads: each feature's scale, and the width of a signed range that
 * holds it ([-2^(w-1), 2^(w-1))). An unsigned feature, checked in [0, 2^b), needs w = b + 1.
 */
export function firstLayerInput(st: QuantSettings, inputSize: number, perFeature: InputQuant | null | undefined): LayerInputQuant {
  if (!perFeature) return { scales: new Array(inputSize).fill(st.scaleBits), widths: new Array(inputSize).fill(activationBits(st)) };
  return { scales: [...perFeature.scaleBits], widths: perFeature.bits.map((b, i) => (isUnsigned(perFeature, i) ? b + 1 : b)) };
}

const spanOf = (l: { span?: Span }): { span?: Span } => (l.span ? { span: [l.span[0], l.span[1]] } : {});

/**
 * Which rows of a quantized linear layer copy one input unchanged: a single weight of
 * 2^t and the bias 2^(t-1) (zero plus the rounding half), so the rescale gives the input
 * back exactly. `fits(col)`: whether that input is known to fit the activation width
 * (every activation is; a first layer's inputs may be checked wider). The circuit then
 * copies the value instead of rescaling it (no constraint): carried branches are free.
 * Per row, the source column or -1.
 */
export function copySources(layer: Extract<QLayer, { kind: 'dense' | 'sparse' }>, fits: (col: number) => boolean): Int32Array {
  const one = 1n << BigInt(layer.shift);
  const half = 1n << BigInt(layer.shift - 1);
  const src = new Int32Array(layer.outSize).fill(-1);
  for (let j = 0; j < layer.outSize; j++) {
    if (layer.bias[j] !== half) continue;
    let col = -1;
    let ok = true;
    const visit = (c: number, w: bigint) => {
      if (w === 0n) return;
      if (col >= 0 || w !== one) ok = false;
      col = c;
    };
    if (layer.kind === 'dense') for (let i = 0; i < layer.inSize && ok; i++) visit(i, layer.weights[j * layer.inSize + i]);
    else for (let k = layer.rowPtr[j]; k < layer.rowPtr[j + 1] && ok; k++) visit(layer.cols[k], layer.weights[k]);
    if (ok && col >= 0 && fits(col)) src[j] = col;
  }
  return src;
}

/** `copySources` of the float layer that quantizes with weight shift t (the same rounding as `quantizeLayer`). */
export function copySourcesFloat(layer: DenseLayer | SparseLayer, t: number, s: number, fits: (col: number) => boolean): Int32Array {
  const one = 2 ** t;
  const src = new Int32Array(layer.outSize).fill(-1);
  for (let j = 0; j < layer.outSize; j++) {
    if (Math.round(layer.bias[j] * 2 ** (s + t)) !== 0) continue;
    let col = -1;
    let ok = true;
    const visit = (c: number, v: number) => {
      const w = Math.round(v * one);
      if (w === 0) return;
      if (col >= 0 || w !== one) ok = false;
      col = c;
    };
    if (layer.kind === 'dense') for (let i = 0; i < layer.inSize && ok; i++) visit(i, layer.weights[j * layer.inSize + i]);
    else for (let k = layer.rowPtr[j]; k < layer.rowPtr[j + 1] && ok; k++) visit(layer.cols[k], layer.vals[k]);
    if (ok && col >= 0 && fits(col)) src[j] = col;
  }
  return src;
}

/** A linear layer's weights at scale 2^t (t from `weightShift`) and biases at 2^(s+t) plus the rounding half. */
function quantizeLinear(name: string, weights: Float64Array, bias: Float64Array, s: number): { shift: number; weights: bigint[]; bias: bigint[] } {
  const t = weightShift(weights, s);
  return {
    shift: t,
    weights: Array.from(weights, (v, i) => toFixed(v, t, `${name}.weight[${i}]`)),
    bias: Array.from(bias, (v, i) => toFixed(v, s + t, `${name}.bias[${i}]`) + (1n << BigInt(t - 1))),
  };
}

export function quantizeLayer(layer: Layer, st: QuantSettings, input?: LayerInputQuant): QLayer {
  const s = st.scaleBits;
  const w = activationBits(st);
  const lo = -(1n << BigInt(w - 1));
  const hi = (1n << BigInt(w - 1)) - 1n;
  switch (layer.kind) {
    case 'dense': {
      const lin = quantizeLinear(layer.name, layer.weights, layer.bias, s);
      return { kind: 'dense', name: layer.name, inSize: layer.inSize, outSize: layer.outSize, ...lin };
    }
    case 'sparse': {
      const lin = quantizeLinear(layer.name, layer.vals, layer.bias, s);
      const t = lin.shift;
      return {
        kind: 'sparse',
        name: layer.name,
        inSize: layer.inSize,
        outSize: layer.outSize,
        rowPtr: Array.from(layer.rowPtr),
        cols: Array.from(layer.cols),
        ...lin,
        ...(layer.conv ? { conv: { ...layer.conv, weights: Array.from(layer.conv.weights, (v, i) => toFixed(v, t, `${layer.name}.kernel[${i}]`)) } } : {}),
      };
    }
    case 'maxpool':
      return { kind: 'maxpool', name: layer.name, inSize: layer.inSize, outSize: layer.outSize, rowPtr: Array.from(layer.rowPtr), idx: Array.from(layer.idx) };
    case 'relu':
      return { kind: 'relu', name: layer.name, size: layer.size, ...spanOf(layer) };
    case 'leaky_relu':
      return {
        kind: 'leaky_relu',
        name: layer.name,
        size: layer.size,
        alpha: Array.from(layer.alpha, (v, i) => toFixed(v, s, `${layer.name}.alpha[${i}]`)),
        ...spanOf(layer),
      };
    case 'mul':
      return { kind: 'mul', name: layer.name, inSize: layer.inSize, outSize: layer.outSize, a: Array.from(layer.a), b: Array.from(layer.b) };
    case 'clip': {
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
    }
    case 'sigmoid':
      return { kind: 'hard_sigmoid', name: layer.name, size: layer.size, ...spanOf(layer) };
    case 'tree_ensemble': {
      const e = treeShift(layer);
      const iq = input ?? { scales: new Array(layer.inSize).fill(s), widths: new Array(layer.inSize).fill(w) };
      const plan = planTrees(layer, iq.scales, iq.widths);
      const half = e > 0 ? 1n << BigInt(e - 1) : 0n;
      const q: QLayer = {
        kind: 'tree_ensemble',
        name: layer.name,
        inSize: layer.inSize,
        outSize: layer.outSize,
        shift: e,
        plan,
        roots: layer.roots,
        trueChild: Int32Array.from(layer.trueChild, (c, i) => (layer.mode[i] === TREE_LEAF ? -1 : c)),
        falseChild: Int32Array.from(layer.falseChild, (c, i) => (layer.mode[i] === TREE_LEAF ? -1 : c)),
        leafWeights: Array.from(layer.leafWeights, (v, i) => (v === 0 ? 0n : toFixed(v, s + e, `${layer.name}.leaf[${Math.floor(i / layer.outSize)}]`))),
        bias: Array.from(layer.base, (v, j) => toFixed(v, s + e, `${layer.name}.base[${j}]`) + half),
      };
      checkTreeRange(q, w, s);
      return q;
    }
    case 'binarize':
    case 'normalize':
      return quantizeMlLayer(layer, st, input);
    default:
      return layer satisfies never;
  }
}

/**
 * Binarizer and Normalizer. Their outputs are 1.0 (binarize), or as large as 1.0 (an L1 or
 * L2 normalisation, and a MAX one's maximum), so 2^s must fit the activations. A first
 * binarize layer compares each feature at its own scale and width (as a first tree
 * ensemble does); its output is at the model's scale whatever the inputs' scales. A first
 * normalize layer reads its inputs at the model's scale (`absorbInputScales` refuses
 * lowered input scales before it), up to their own widths.
 */
function quantizeMlLayer(layer: Extract<Layer, { kind: 'binarize' | 'normalize' }>, st: QuantSettings, input?: LayerInputQuant): QLayer {
  const s = st.scaleBits;
  const w = activationBits(st);
  if (w < s + 2) {
    throw new ZkinferError('SETTINGS', `${layer.name}: a ${layer.kind === 'binarize' ? 'Binarizer' : 'Normalizer'} outputs 1.0, which needs bits >= 2 * scale + 2 = ${2 * s + 2}`, 'bits');
  }
  if (layer.kind === 'binarize') {
    const widths = Array.from({ length: layer.size }, (_, i) => input?.widths[i] ?? w);
    const threshold = Array.from(layer.threshold, (t, i) => binarizeThreshold(t, input?.scales[i] ?? s, widths[i]));
    return { kind: 'binarize', name: layer.name, size: layer.size, threshold, widths, ...spanOf(layer) };
  }
  const [lo, hi] = layer.span ?? [0, layer.size];
  const xBits = input ? Math.max(...input.widths.slice(lo, hi)) : w;
  return { kind: 'normalize', name: layer.name, size: layer.size, plan: planNormalize(layer.norm, hi - lo, xBits, s, w, layer.name), ...spanOf(layer) };
}

/**
 * A tree ensemble's output is base + one leaf per tree: it lies between base + the sum of
 * each tree's smallest leaf and base + the sum of the largest. Both must fit the rescale
 * (w + e bits), so no input can make the sum unprovable (and it is far from wrapping).
 */
function checkTreeRange(q: Extract<QLayer, { kind: 'tree_ensemble' }>, w: number, s: number): void {
  const lim = 1n << BigInt(w + q.shift - 1);
  for (let j = 0; j < q.outSize; j++) {
    let lo = q.bias[j];
    let hi = q.bias[j];
    for (const r of q.roots) {
      let min: bigint | null = null;
      let max: bigint | null = null;
      const stack = [r];
      while (stack.length) {
        const i = stack.pop()!;
        if (q.trueChild[i] >= 0) {
          stack.push(q.trueChild[i], q.falseChild[i]);
          continue;
        }
        const v = q.leafWeights[i * q.outSize + j];
        if (min === null || v < min) min = v;
        if (max === null || v > max) max = v;
      }
      lo += min ?? 0n;
      hi += max ?? 0n;
    }
    if (lo < -lim || hi >= lim) {
      const unit = 2 ** (s + q.shift);
      throw new ZkinferError(
        'SETTINGS',
        `${q.name}: output ${j} of the tree ensemble can range over [${Number(lo) / unit}, ${Number(hi) / unit}], which does not fit ${w}-bit activations at scale 2^${s}: raise --bits or lower --scale`,
        q.name,
      );
    }
  }
}

/**
 * Turns the float IR into fixed-point integers and checks statically that no
 * accumulator can wrap around the field for any in-range input.
 */
export function quantizeModel(ir: ModelIR, settings: QuantSettings, inputQuant?: InputQuant): QuantizedModel {
  const st = validateSettings(settings);
  const perFeature = isDefaultInputQuant(inputQuant, st) ? null : inputQuant!;
  if (perFeature && (perFeature.scaleBits.length !== ir.inputSize || perFeature.bits.length !== ir.inputSize)) {
    throw new ZkinferError('SETTINGS', `input quantization covers ${perFeature.scaleBits.length} features; the model has ${ir.inputSize}`, 'inputQuant');
  }
  if (ir.layers.some((l) => l.kind === 'sigmoid') && activationBits(st) < st.scaleBits + 2) {
    throw new ZkinferError(
      'SETTINGS',
      `an inner Sigmoid needs bits >= 2 * scale + 2 = ${2 * st.scaleBits + 2} so that 1.0 is representable`,
      'bits',
    );
  }
  // A first tree layer compares the features at their own scale and width.
  const firstInput = firstLayerInput(st, ir.inputSize, perFeature);
  const layers = (perFeature ? absorbInputScales(ir.layers, perFeature, st) : ir.layers).map((l, i) => quantizeLayer(l, st, i === 0 ? firstInput : undefined));
  // A first dense layer after narrower input checks rescales narrower (not when a max pool
  // follows: the pool compares its accumulators at the full width).
  if (perFeature && layers[0]?.kind === 'dense' && layers[1]?.kind !== 'maxpool') {
    const acc = firstLayerAccBits(layers[0], st, perFeature);
    if (acc !== null) layers[0] = { ...layers[0], accBits: acc };
  }
  const q: QuantizedModel = {
    settings: st,
    inputQuant: perFeature,
    inputs: ir.inputs,
    inputSize: ir.inputSize,
    layers,
    outputSize: ir.outputSize,
    head: ir.head,
  };
  checkNoWrap(q);
  return q;
}

/**
 * The rescale width of a first dense layer whose inputs have their own (narrower) widths
 * (`iq`): the fewest bits N (more than the weight shift t) with
 * |b_j| + sum_i |W_ji| max|x_i| < 2^(N - 1) for every neuron, so every accumulator an
 * in-range input can produce decomposes in N bits; null when that is not narrower than
 * the usual activation bits + t. The quotient then lies within N - t <= activation bits,
 * so what follows sees a value of the usual width.
 */
export function firstLayerAccBits(layer: Extract<QLayer, { kind: 'dense' }>, st: QuantSettings, iq: InputQuant): number | null {
  const usual = activationBits(st) + layer.shift;
  let widest = 0n;
  for (let j = 0; j < layer.outSize; j++) {
    let bound = layer.bias[j] < 0n ? -layer.bias[j] : layer.bias[j];
    for (let i = 0; i < layer.inSize; i++) {
      const v = layer.weights[j * layer.inSize + i];
      bound += (v < 0n ? -v : v) * inputMagnitude(iq, i);
    }
    if (bound > widest) widest = bound;
  }
  // N - 1 >= bit length of the bound, N > t.
  const n = Math.max(widest.toString(2).length + 1, layer.shift + 1);
  return n < usual ? n : null;
}

/**
 * Features stored at their own scale 2^s_i enter the first dense layer, whose weights
 * are multiplied by 2^(s - s_i) (exact: a power of two), so its accumulator is at the
 * model's scale as before. A first tree ensemble compares each feature at its own scale
 * (its thresholds are quantized to it) and is left as it is, and so is a first Binarizer. A model whose first layer is
 * neither would carry the raw values into activations at the model's scale, where they
 * do not fit: it may narrow widths but not lower scales.
 */
export function absorbInputScales(layers: Layer[], iq: InputQuant, st: QuantSettings): Layer[] {
  const first = layers[0];
  const lowered = iq.scaleBits.findIndex((s) => s !== st.scaleBits);
  // A tree ensemble compares each feature at its own scale: its thresholds absorb it.
  if (lowered < 0 || first?.kind === 'tree_ensemble') return layers;
  // So does a Binarizer (its output, 0 or 1.0, is at the model's scale).
  if (first?.kind === 'binarize') return layers;
  if (first?.kind === 'sparse') {
    // Per-feature factors break the kernel's sharing: the terms are listed as they are.
    const vals = Float64Array.from(first.vals, (v, k) => v * 2 ** (st.scaleBits - iq.scaleBits[first.cols[k]]));
    const { conv: _conv, ...rest } = first;
    return [{ ...rest, vals }, ...layers.slice(1)];
  }
  if (first?.kind !== 'dense') {
    throw new ZkinferError(
      'SETTINGS',
      `input feature ${lowered} needs scale 2^${iq.scaleBits[lowered]} to fit, but this model applies ${first?.kind ?? 'nothing'} to its raw inputs before any dense or convolution layer, so they must fit the activations at scale 2^${st.scaleBits}: raise --bits`,
      'inputQuant',
    );
  }
  const weights = Float64Array.from(first.weights, (v, k) => v * 2 ** (st.scaleBits - iq.scaleBits[k % first.inSize]));
  return [{ ...first, weights }, ...layers.slice(1)];
}

/**
 * Every activation is range-checked to w = bits - scale bits, so |x| <= 2^(w-1).
 * A dense accumulator is then at most sum|W| * 2^(w-1) + |b| in magnitude; it must
 * stay below p/2 so that a field element and the signed integer it stands for agree.
 * (The circuit's rescale also pins it to `bits` bits, but only this bound rules out
 * a wrapped sum that lands back in range.)
 */
export function checkNoWrap(q: QuantizedModel): void {
  const w = BigInt(activationBits(q.settings));
  const xMax = 1n << (w - 1n);
  const limit = FIELD_ORDER / 2n;
  for (const layer of q.layers) {
    if (layer.kind === 'mul' && 2n * w >= BigInt(FIELD_ORDER.toString(2).length - 2)) {
      throw new ZkinferError('FIELD_OVERFLOW', `${layer.name}: a product of two ${w}-bit activations could wrap around the field; lower the bit width`, layer.name);
    }
    if (layer.kind === 'leaky_relu') {
      for (const a of layer.alpha) {
        const bound = (a < 0n ? -a : a) * xMax + (1n << BigInt(q.settings.scaleBits));
        if (bound >= limit) throw new ZkinferError('FIELD_OVERFLOW', `${layer.name}: slope too large for the field`, layer.name);
      }
    }
    if (layer.kind !== 'dense' && layer.kind !== 'sparse') continue;
    // Accumulators a max pool compares before their rescale are subtracted from each
    // other: their differences must not wrap either.
    const pooled = q.layers[q.layers.indexOf(layer) + 1]?.kind === 'maxpool';
    const lim = pooled ? limit / 2n : limit;
    for (let j = 0; j < layer.outSize; j++) {
      let bound = layer.bias[j] < 0n ? -layer.bias[j] : layer.bias[j];
      if (layer.kind === 'dense') {
        for (let i = 0; i < layer.inSize; i++) {
          const v = layer.weights[j * layer.inSize + i];
          bound += (v < 0n ? -v : v) * xMax;
        }
      } else {
        for (let k = layer.rowPtr[j]; k < layer.rowPtr[j + 1]; k++) {
          const v = layer.weights[k];
          bound += (v < 0n ? -v : v) * xMax;
        }
      }
      if (bound >= lim) {
        throw new ZkinferError(
          'FIELD_OVERFLOW',
          `${layer.name}: neuron ${j} could reach ${bound} > p/${pooled ? 4 : 2} and wrap around the field; use a smaller scale or bit width`,
          layer.name,
        );
      }
    }
  }
}
