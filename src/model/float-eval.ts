import type { Layer, ModelIR } from './ir.ts';

/** Plain float evaluation of the IR: checks the lowering against onnxruntime. */
export function evalFloat(ir: ModelIR, x: ArrayLike<number>): { logits: Float64Array; output: Float64Array } {
  let cur: Float64Array = Float64Array.from(x);
  for (const layer of ir.layers) cur = applyFloat(layer, cur);
  let output: Float64Array = cur;
  if (ir.head === 'sigmoid') output = cur.map((z) => 1 / (1 + Math.exp(-z)));
  if (ir.head === 'softmax') {
    const m = Math.max(...cur);
    const e = cur.map((z) => Math.exp(z - m));
    const s = e.reduce((a, b) => a + b, 0);
    output = e.map((v) => v / s);
  }
  return { logits: cur, output };
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
    case 'relu':
      return x.map((v) => Math.max(0, v));
    case 'leaky_relu':
      return x.map((v, i) => (v >= 0 ? v : layer.alpha[i] * v));
    case 'clip':
      return x.map((v) => Math.min(layer.max, Math.max(layer.min, v)));
    case 'sigmoid':
      return x.map((v) => 1 / (1 + Math.exp(-v)));
    default:
      return layer satisfies never;
  }
}
