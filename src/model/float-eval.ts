import { applyHead } from './head.ts';
import type { Layer, ModelIR } from './ir.ts';
import { evalTreesFloat } from './trees.ts';

/** Plain float evaluation of the IR: checks the lowering against onnxruntime. */
export function evalFloat(ir: ModelIR, x: ArrayLike<number>): { logits: Float64Array; output: Float64Array } {
  let cur: Float64Array = Float64Array.from(x);
  for (const layer of ir.layers) cur = applyFloat(layer, cur);
  return { logits: cur, output: Float64Array.from(applyHead(ir.head, cur)) };
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
      return x.map((v) => Math.max(0, v));
    case 'leaky_relu':
      return x.map((v, i) => (v >= 0 ? v : layer.alpha[i] * v));
    case 'clip':
      return x.map((v) => Math.min(layer.max, Math.max(layer.min, v)));
    case 'sigmoid':
      return x.map((v) => 1 / (1 + Math.exp(-v)));
    case 'tree_ensemble':
      return evalTreesFloat(layer, x);
    case 'binarize':
      return x.map((v, i) => (v > layer.threshold[i] ? 1 : 0));
    case 'normalize':
      return normalizeFloat(layer.norm, x);
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
