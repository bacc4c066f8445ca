import { ZkinferError } from '../errors.ts';
import type { Head, IrInput, Layer, ModelIR } from '../model/ir.ts';
import { FIELD_ORDER } from './field.ts';
import { inputMagnitude, type InputQuant, isDefaultInputQuant } from './input-quant.ts';
import { activationBits, type QuantSettings, validateSettings } from './settings.ts';

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
  | { kind: 'relu'; name: string; size: number }
  | { kind: 'leaky_relu'; name: string; size: number; /** round(alpha * 2^s) */ alpha: bigint[] }
  | { kind: 'clip'; name: string; size: number; min: bigint | null; max: bigint | null }
  | { kind: 'hard_sigmoid'; name: string; size: number };

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

export function quantizeLayer(layer: Layer, st: QuantSettings): QLayer {
  const s = st.scaleBits;
  const w = activationBits(st);
  const lo = -(1n << BigInt(w - 1));
  const hi = (1n << BigInt(w - 1)) - 1n;
  switch (layer.kind) {
    case 'dense': {
      const t = weightShift(layer.weights, s);
      return {
        kind: 'dense',
        name: layer.name,
        inSize: layer.inSize,
        outSize: layer.outSize,
        shift: t,
        weights: Array.from(layer.weights, (v, i) => toFixed(v, t, `${layer.name}.weight[${i}]`)),
        bias: Array.from(layer.bias, (v, i) => toFixed(v, s + t, `${layer.name}.bias[${i}]`) + (1n << BigInt(t - 1))),
      };
    }
    case 'relu':
      return { kind: 'relu', name: layer.name, size: layer.size };
    case 'leaky_relu':
      return {
        kind: 'leaky_relu',
        name: layer.name,
        size: layer.size,
        alpha: Array.from(layer.alpha, (v, i) => toFixed(v, s, `${layer.name}.alpha[${i}]`)),
      };
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
      };
    }
    case 'sigmoid':
      return { kind: 'hard_sigmoid', name: layer.name, size: layer.size };
    default:
      return layer satisfies never;
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
  const layers = (perFeature ? absorbInputScales(ir.layers, perFeature, st) : ir.layers).map((l) => quantizeLayer(l, st));
  if (perFeature && layers[0]?.kind === 'dense') {
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
 * model's scale as before. A model whose first layer is not dense would carry the raw
 * values into activations at the model's scale, where they do not fit: it may narrow
 * widths but not lower scales.
 */
export function absorbInputScales(layers: Layer[], iq: InputQuant, st: QuantSettings): Layer[] {
  const first = layers[0];
  const lowered = iq.scaleBits.findIndex((s) => s !== st.scaleBits);
  if (lowered < 0) return layers;
  if (first?.kind !== 'dense') {
    throw new ZkinferError(
      'SETTINGS',
      `input feature ${lowered} needs scale 2^${iq.scaleBits[lowered]} to fit, but this model applies ${first?.kind ?? 'nothing'} to its raw inputs before any dense layer, so they must fit the activations at scale 2^${st.scaleBits}: raise --bits`,
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
    if (layer.kind === 'leaky_relu') {
      for (const a of layer.alpha) {
        const bound = (a < 0n ? -a : a) * xMax + (1n << BigInt(q.settings.scaleBits));
        if (bound >= limit) throw new ZkinferError('FIELD_OVERFLOW', `${layer.name}: slope too large for the field`, layer.name);
      }
    }
    if (layer.kind !== 'dense') continue;
    for (let j = 0; j < layer.outSize; j++) {
      let bound = layer.bias[j] < 0n ? -layer.bias[j] : layer.bias[j];
      for (let i = 0; i < layer.inSize; i++) {
        const v = layer.weights[j * layer.inSize + i];
        bound += (v < 0n ? -v : v) * xMax;
      }
      if (bound >= limit) {
        throw new ZkinferError(
          'FIELD_OVERFLOW',
          `${layer.name}: neuron ${j} could reach ${bound} > p/2 and wrap around the field; use a smaller scale or bit width`,
          layer.name,
        );
      }
    }
  }
}
