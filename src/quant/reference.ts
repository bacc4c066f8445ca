import { ZkinferError } from '../core/errors.ts';
import { qlayerModule } from '../layers/index.ts';
import type { QuantizedModel } from './quantize.ts';
import { activationBits } from '../fixed/settings.ts';
import { isUnsigned } from '../fixed/input-quant.ts';

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

/** Runs the integer model on a float input vector (each layer's step as its module states it, `src/layers/`). */
export function runReference(q: QuantizedModel, x: ArrayLike<number>): ReferenceResult {
  return runQuantized(q, quantizeInput(q, x));
}

/** Runs the integer model on an input already quantized (and in range). */
export function runQuantized(q: QuantizedModel, quantized: readonly bigint[]): ReferenceResult {
  const input = [...quantized];
  const layers: bigint[][] = [];
  let cur = input;
  for (const layer of q.layers) {
    cur = qlayerModule(layer.kind).reference(layer, cur, q.settings);
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
