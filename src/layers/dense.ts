import type { DenseLayer } from '../model/ir.ts';
import { inputMagnitude, type InputQuant, isDefaultInputQuant } from '../fixed/input-quant.ts';
import { activationBits, type QuantSettings } from '../fixed/settings.ts';
import { checkWidth, floorShift } from './common.ts';
import { ind, matrixLiteral } from './emit.ts';
import type { LayerModule } from './layer.ts';
import {
  checkLinearWrap,
  emitPrivateLinear,
  emitRescale,
  linearCount,
  type LinearShape,
  linearShape,
  type QLinear,
  qlinearShape,
  quantizeLinear,
  weightShift,
} from './linear.ts';

/** `y = W·x + b`: constant weights (linear, no constraint), then a rescale by 2^t. */
export interface QDense extends QLinear {
  kind: 'dense';
  /** round(W * 2^t), row-major. */
  weights: bigint[];
  /**
   * Width of the accumulator's range-checked decomposition (the rescale), when it is
   * narrower than activation bits + t: the first layer's accumulator is bounded by its
   * inputs' own widths (narrow per-feature input checks), |acc| <= |b| + sum |W| 2^(b_i - 1).
   */
  accBits?: number;
}

function quantizeDense(layer: DenseLayer, st: QuantSettings): QDense {
  const lin = quantizeLinear(layer.name, layer.weights, layer.bias, st.scaleBits);
  return { kind: 'dense', name: layer.name, inSize: layer.inSize, outSize: layer.outSize, ...lin };
}

/**
 * The rescale width of a first dense layer whose inputs have their own (narrower) widths
 * (`iq`): the fewest bits N (more than the weight shift t) with
 * |b_j| + sum_i |W_ji| max|x_i| < 2^(N - 1) for every neuron, so every accumulator an
 * in-range input can produce decomposes in N bits; null when that is not narrower than
 * the usual activation bits + t. The quotient then lies within N - t <= activation bits,
 * so what follows sees a value of the usual width.
 */
export function firstLayerAccBits(layer: QDense, st: QuantSettings, iq: InputQuant): number | null {
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

export const dense: LayerModule<DenseLayer, QDense, LinearShape> = {
  kind: 'dense',
  qkind: 'dense',
  evalFloat(layer, x) {
    const y = Float64Array.from(layer.bias);
    for (let j = 0; j < layer.outSize; j++) {
      let acc = y[j];
      for (let i = 0; i < layer.inSize; i++) acc += layer.weights[j * layer.inSize + i] * x[i];
      y[j] = acc;
    }
    return y;
  },
  // Features stored at their own scale 2^s_i: the weights are multiplied by 2^(s - s_i)
  // (exact: a power of two), so the accumulator is at the model's scale as before.
  absorbScales(layer, factor) {
    return { ...layer, weights: Float64Array.from(layer.weights, (v, k) => v * factor(k % layer.inSize)) };
  },
  quantize(layer, ctx) {
    const q = quantizeDense(layer, ctx.settings);
    // A first dense layer after narrower input checks rescales narrower (not when a max pool
    // follows: the pool compares its accumulators at the full width).
    // Not in a private model: the narrower width is a bound computed from the weights.
    if (ctx.perFeature && ctx.next !== 'maxpool' && !ctx.private) {
      const acc = firstLayerAccBits(q, ctx.settings, ctx.perFeature);
      if (acc !== null) return { ...q, accBits: acc };
    }
    return q;
  },
  checkWrap: checkLinearWrap,
  reference(layer, x, st) {
    const w = activationBits(st);
    const out: bigint[] = [];
    for (let j = 0; j < layer.outSize; j++) {
      let acc = layer.bias[j];
      const row = j * layer.inSize;
      for (let i = 0; i < layer.inSize; i++) acc += layer.weights[row + i] * x[i];
      checkWidth(acc, layer.accBits ?? w + layer.shift, `${layer.name}[${j}]`);
      out.push(floorShift(acc, layer.shift));
    }
    return out;
  },
  shape(layer, ctx) {
    const st = ctx.settings;
    const t = weightShift(layer.weights, st.scaleBits);
    if (ctx.next === 'maxpool') return linearShape(layer, t, ctx, null);
    // As quantizeModel: a first dense layer after per-feature input checks may rescale narrower.
    const iq = ctx.inputQuant;
    const acc = ctx.first && iq && !ctx.private && !isDefaultInputQuant(iq, st) ? firstLayerAccBits(quantizeDense(layer, st), st, iq) : null;
    return linearShape(layer, t, ctx, acc);
  },
  qshape: (layer, ctx) => qlinearShape(layer, ctx, layer.accBits),
  count: linearCount,
  privacy: 'parameters',
  emit(layer, shape, cur, ctx) {
    const t = `l${ctx.index}`;
    if (ctx.params) {
      ctx.lines.push(
        `${ind}// ${layer.name}: dense ${layer.inSize} -> ${layer.outSize}, private weights at scale 2^${layer.shift} ` +
          `(one product each), then rescale by 2^${layer.shift}`,
      );
      emitPrivateLinear(layer, t, 'DensePrivate', [layer.inSize, layer.outSize], cur, ctx, true);
      return emitRescale(shape, t, ctx, cur);
    }
    ctx.lines.push(
      `${ind}// ${layer.name}: dense ${layer.inSize} -> ${layer.outSize}, constant weights at scale 2^${layer.shift} ` +
        `(linear), then rescale by 2^${layer.shift}`,
      `${ind}var ${t}W[${layer.outSize}][${layer.inSize}] = ${matrixLiteral(layer.weights, layer.outSize, layer.inSize)};`,
      `${ind}var ${t}B[${layer.outSize}] = [${layer.bias.join(',')}];`,
      `${ind}component ${t}Mul = DenseConst(${layer.inSize}, ${layer.outSize}, ${t}W, ${t}B);`,
      `${ind}${t}Mul.in <== ${cur.values};`,
    );
    return emitRescale(shape, t, ctx, cur);
  },
};
