import { ZkinferError } from '../core/errors.ts';
import type { QLayer, QuantizedModel } from './quantize.ts';
import { activationBits } from './settings.ts';
import { nodeTest } from './tree-plan.ts';
import { isUnsigned } from './input-quant.ts';
import { normalizeInts } from './ml-plan.ts';

/**
 * The integer reference implementation: the oracle for the circuit. Its outputs are
 * what the circuit's witness must contain, bit for bit; it also finds out-of-range
 * values before a witness is attempted, with an error that names where.
 */
export interface ReferenceResult {
  /** Quantized inputs, round(x * 2^s). */
  input: bigint[];
  /** Output of each layer, in order. */
  layers: bigint[][];
  /** Final values (logits when the model has a sigmoid or softmax head), at scale 2^s. */
  output: bigint[];
  /** Sigmoid head: 1 where logit >= 0 (p >= 0.5). Softmax or argmax head: [index of the first maximum]. */
  decision: bigint[];
}

/** What quantizing an input needs of a model: its inputs and how each feature is quantized. */
export type InputSide = Pick<QuantizedModel, 'settings' | 'inputQuant' | 'inputs' | 'inputSize'>;

const floorShift = (v: bigint, k: number): bigint => v >> BigInt(k);

/** Quantizes a float input vector; a value that does not fit the activation width is an error. */
export function quantizeInput(q: InputSide, x: ArrayLike<number>): bigint[] {
  if (x.length !== q.inputSize) {
    throw new ZkinferError('INPUT_SHAPE', `expected ${q.inputSize} input values, got ${x.length}`, 'input');
  }
  return Array.from(x, (v, i) => {
    const feature = featureName(q, i);
    const s = q.inputQuant?.scaleBits[i] ?? q.settings.scaleBits;
    const b = q.inputQuant?.bits[i] ?? activationBits(q.settings);
    const unsigned = isUnsigned(q.inputQuant, i);
    const [min, lim] = unsigned ? [0, 2 ** b] : [-(2 ** (b - 1)), 2 ** (b - 1)];
    // The value itself is the applicant's: errors name the feature and the bound only.
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new ZkinferError('INPUT_VALUE', `${feature} is not a finite number`, feature);
    }
    const r = Math.round(v * 2 ** s);
    if (r < min || r >= lim) {
      throw new ZkinferError('INPUT_RANGE', `${feature} is outside the representable range ${inputBound(q, i)}`, feature);
    }
    return BigInt(r);
  });
}

/** The range feature i must lie in, in real units, e.g. "[-2048, 2047.9990234375] (scale 2^10, 22 bits)". */
export function inputBound(q: Pick<QuantizedModel, 'inputQuant' | 'settings'>, i: number): string {
  const s = q.inputQuant?.scaleBits[i] ?? q.settings.scaleBits;
  const b = q.inputQuant?.bits[i] ?? activationBits(q.settings);
  if (isUnsigned(q.inputQuant, i)) return `[0, ${(2 ** b - 1) / 2 ** s}] (scale 2^${s}, ${b} bits unsigned)`;
  const lim = 2 ** (b - 1);
  return `[${-lim / 2 ** s}, ${(lim - 1) / 2 ** s}] (scale 2^${s}, ${b} bits)`;
}

/** Names flat input position i as `input[k]` (or just `input` for a scalar input). */
export function featureName(q: Pick<QuantizedModel, 'inputs'>, i: number): string {
  const inp = q.inputs.find((d) => i >= d.offset && i < d.offset + d.size);
  if (!inp) return `input[${i}]`;
  return inp.size === 1 ? inp.name : `${inp.name}[${i - inp.offset}]`;
}

/** An intermediate value (derived from the private input, so never shown) must fit `bits`. */
function checkWidth(v: bigint, bits: number, where: string): void {
  const lim = 1n << BigInt(bits - 1);
  if (v < -lim || v >= lim) {
    throw new ZkinferError(
      'INPUT_RANGE',
      `${where} does not fit ${bits} bits for this input; the input is too large for these settings (raise --bits or lower --scale)`,
      where,
    );
  }
}

/** Applies `f` to the elements of the layer's span (all when it has none), the others unchanged. */
function inSpan(layer: { span?: [number, number] }, x: bigint[], f: (v: bigint, i: number) => bigint): bigint[] {
  const [lo, hi] = layer.span ?? [0, x.length];
  return x.map((v, i) => (i >= lo && i < hi ? f(v, i) : v));
}

function applyLayer(layer: QLayer, x: bigint[], q: QuantizedModel): bigint[] {
  const s = q.settings.scaleBits;
  const B = q.settings.bits;
  const w = activationBits(q.settings);
  switch (layer.kind) {
    case 'dense': {
      const out: bigint[] = [];
      for (let j = 0; j < layer.outSize; j++) {
        let acc = layer.bias[j];
        const row = j * layer.inSize;
        for (let i = 0; i < layer.inSize; i++) acc += layer.weights[row + i] * x[i];
        checkWidth(acc, layer.accBits ?? w + layer.shift, `${layer.name}[${j}]`);
        out.push(floorShift(acc, layer.shift));
      }
      return out;
    }
    case 'sparse': {
      const out: bigint[] = [];
      for (let j = 0; j < layer.outSize; j++) {
        let acc = layer.bias[j];
        for (let k = layer.rowPtr[j]; k < layer.rowPtr[j + 1]; k++) acc += layer.weights[k] * x[layer.cols[k]];
        checkWidth(acc, w + layer.shift, `${layer.name}[${j}]`);
        out.push(floorShift(acc, layer.shift));
      }
      return out;
    }
    case 'maxpool': {
      // The circuit may take the max of the accumulators before their rescale: the floor
      // division is nondecreasing, so the result is the same.
      const out: bigint[] = [];
      for (let j = 0; j < layer.outSize; j++) {
        let m = x[layer.idx[layer.rowPtr[j]]];
        for (let k = layer.rowPtr[j] + 1; k < layer.rowPtr[j + 1]; k++) if (x[layer.idx[k]] > m) m = x[layer.idx[k]];
        out.push(m);
      }
      return out;
    }
    case 'relu':
      return inSpan(layer, x, (v) => (v > 0n ? v : 0n));
    case 'leaky_relu':
      return inSpan(layer, x, (v, i) => {
        const t = (v >= 0n ? v << BigInt(s) : layer.alpha[i] * v) + (1n << BigInt(s - 1));
        checkWidth(t, B, `${layer.name}[${i}]`);
        return floorShift(t, s);
      });
    case 'clip':
      return inSpan(layer, x, (v) => {
        let y = v;
        if (layer.min !== null && y < layer.min) y = layer.min;
        if (layer.max !== null && y > layer.max) y = layer.max;
        return y;
      });
    case 'hard_sigmoid': {
      // clip(x/4 + 1/2, 0, 1), rounded to nearest.
      const one = 1n << BigInt(s);
      return inSpan(layer, x, (v) => {
        const u = floorShift(v + 2n * one + 2n, 2);
        return u < 0n ? 0n : u > one ? one : u;
      });
    }
    case 'mul': {
      // Rounded to nearest: (x_a * x_b + 2^(s-1)) >> s, which must fit the activation width.
      const half = 1n << BigInt(s - 1);
      return layer.a.map((a, k) => {
        if (layer.b[k] < 0) return x[a];
        const p = x[a] * x[layer.b[k]] + half;
        checkWidth(p, w + s, `${layer.name}[${k}]`);
        return floorShift(p, s);
      });
    }
    case 'tree_ensemble': {
      // The comparison bits [X_f <= T], then each tree's path as the circuit's indicators select it.
      const { plan } = layer;
      const bits = new Uint8Array(plan.bitCount);
      for (const f of plan.features) f.thresholds.forEach((T, j) => (bits[f.offset + j] = x[f.feature] <= T ? 1 : 0));
      const acc = layer.bias.slice();
      for (const r of layer.roots) {
        let i = r;
        while (layer.trueChild[i] >= 0) i = nodeTest(plan, i, bits) === 1 ? layer.trueChild[i] : layer.falseChild[i];
        for (let j = 0; j < layer.outSize; j++) acc[j] += layer.leafWeights[i * layer.outSize + j];
      }
      return acc.map((v, j) => {
        checkWidth(v, w + layer.shift, `${layer.name}[${j}]`);
        return floorShift(v, layer.shift);
      });
    }
    case 'binarize': {
      const one = 1n << BigInt(s);
      return inSpan(layer, x, (v, i) => (v > layer.threshold[i] ? one : 0n));
    }
    case 'normalize': {
      // The circuit range-checks each quotient to the activation width: a MAX normalisation
      // by a small maximum can exceed it.
      const [lo, hi] = layer.span ?? [0, x.length];
      const y = normalizeInts(layer.plan.norm, x.slice(lo, hi), s);
      y.forEach((v, i) => checkWidth(v, w, `${layer.name}[${lo + i}]`));
      return [...x.slice(0, lo), ...y, ...x.slice(hi)];
    }
    default:
      return layer satisfies never;
  }
}

/** Runs the integer model on a float input vector. */
export function runReference(q: QuantizedModel, x: ArrayLike<number>): ReferenceResult {
  const input = quantizeInput(q, x);
  const layers: bigint[][] = [];
  let cur = input;
  for (const layer of q.layers) {
    cur = applyLayer(layer, cur, q);
    layers.push(cur);
  }
  let decision: bigint[] = [];
  if (q.head === 'sigmoid') decision = cur.map((v) => (v >= 0n ? 1n : 0n));
  if (q.head === 'softmax' || q.head === 'argmax') {
    let best = 0;
    for (let i = 1; i < cur.length; i++) if (cur[i] > cur[best]) best = i;
    decision = [BigInt(best)];
  }
  return { input, layers, output: cur, decision };
}
