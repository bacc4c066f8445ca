import { applyHead } from './head.ts';
import type { Layer, ModelIR, Span } from './ir.ts';
import { evalTreesFloat } from './trees.ts';

/** Plain float evaluation of the IR: checks the lowering against onnxruntime. */
export function evalFloat(ir: ModelIR, x: ArrayLike<number>): { logits: Float64Array; output: Float64Array } {
  let cur: Float64Array = Float64Array.from(x);
  for (const layer of ir.layers) cur = applyFloat(layer, cur);
  return { logits: cur, output: Float64Array.from(applyHead(ir.head, cur)) };
}

/** Applies `f` to the elements of the layer's span (all when it has none), the others unchanged. */
function inSpan(layer: { span?: Span }, x: Float64Array, f: (v: number, i: number) => number): Float64Array {
  const [lo, hi] = layer.span ?? [0, x.length];
  return x.map((v, i) => (i >= lo && i < hi ? f(v, i) : v));
}

function applyFloat(layer: Layer, x: Float64Array): Float64Array {
  switch (layer.kind) {
    case 'dense': {
      const y = Float64Array.from(layer.bias);
      for (let j = 0; j < layer.outSize; j++) {
        let acc = y[j];
        for (let i = 0; i < layer.inSize; i++) acc += layer.weights[j * layer.inSize + i] * x[i];
        y[j] = acc;
      }
      return y;
    }
    case 'sparse': {
      const y = Float64Array.from(layer.bias);
      for (let j = 0; j < layer.outSize; j++) {
        let acc = y[j];
        for (let k = layer.rowPtr[j]; k < layer.rowPtr[j + 1]; k++) acc += layer.vals[k] * x[layer.cols[k]];
        y[j] = acc;
      }
      return y;
    }
    case 'maxpool': {
      const y = new Float64Array(layer.outSize);
      for (let j = 0; j < layer.outSize; j++) {
        let m = -Infinity;
        for (let k = layer.rowPtr[j]; k < layer.rowPtr[j + 1]; k++) m = Math.max(m, x[layer.idx[k]]);
        y[j] = m;
      }
      return y;
    }
    case 'relu':
      return inSpan(layer, x, (v) => Math.max(0, v));
    case 'leaky_relu':
      return inSpan(layer, x, (v, i) => (v >= 0 ? v : layer.alpha[i] * v));
    case 'clip':
      return inSpan(layer, x, (v) => Math.min(layer.max, Math.max(layer.min, v)));
    case 'sigmoid':
      return inSpan(layer, x, (v) => 1 / (1 + Math.exp(-v)));
    case 'mul':
      return Float64Array.from(layer.a, (a, k) => (layer.b[k] < 0 ? x[a] : x[a] * x[layer.b[k]]));
    case 'tree_ensemble':
      return evalTreesFloat(layer, x);
    case 'binarize':
      return inSpan(layer, x, (v, i) => (v > layer.threshold[i] ? 1 : 0));
    case 'normalize': {
      const [lo, hi] = layer.span ?? [0, x.length];
      const y = Float64Array.from(x);
      y.set(normalizeFloat(layer.norm, x.slice(lo, hi)), lo);
      return y;
    }
    default:
      return layer satisfies never;
  }
}

/** onnxruntime's Normalizer on one row: MAX divides by the largest value (signed); a zero norm leaves the row as it is. */
function normalizeFloat(norm: 'L1' | 'L2' | 'MAX', x: Float64Array): Float64Array {
  let n: number;
  if (norm === 'L1') n = x.reduce((a, v) => a + Math.abs(v), 0);
  else if (norm === 'L2') n = Math.sqrt(x.reduce((a, v) => a + v * v, 0));
  else n = x.reduce((a, v) => Math.max(a, v), -Infinity);
  return n === 0 ? Float64Array.from(x) : x.map((v) => v / n);
}
