import type { DenseLayer, Layer } from './ir.ts';

/**
 * Folds adjacent dense layers, because each dense layer costs a rescale (and its
 * rounding) in the circuit. Elementwise-affine (diagonal) layers always fold into a
 * neighbouring dense layer: standardization before a Gemm, BatchNormalization after
 * one, a bias Add after a MatMul. Two full dense layers in a row are composed
 * (W2·W1) only when that does not grow the weight count: 4 -> 64 -> 2 becomes one
 * 4 -> 2 layer, while a bottleneck 16 -> 2 -> 16 stays two layers (64 weights, not 256).
 */
export function foldDenseChain(layers: Layer[], diagonal: Set<Layer>): Layer[] {
  const out: Layer[] = [];
  for (const layer of layers) {
    const prev = out.at(-1);
    if (layer.kind === 'dense' && prev?.kind === 'dense' && (diagonal.has(layer) || diagonal.has(prev) || composeIsSmaller(prev, layer))) {
      const merged = compose(prev, layer, diagonal.has(layer) ? prev.name : layer.name);
      if (diagonal.has(layer) && diagonal.has(prev)) diagonal.add(merged);
      out[out.length - 1] = merged;
    } else out.push(layer);
  }
  return out;
}

/** Whether W2·W1 has no more weights than W1 and W2 together. */
function composeIsSmaller(first: DenseLayer, second: DenseLayer): boolean {
  return second.outSize * first.inSize <= first.outSize * first.inSize + second.outSize * second.inSize;
}

/** second ∘ first: W = W2 · W1, b = W2 · b1 + b2. */
function compose(first: DenseLayer, second: DenseLayer, name: string): DenseLayer {
  const { inSize } = first;
  const outSize = second.outSize;
  const mid = first.outSize;
  const weights = new Float64Array(outSize * inSize);
  const bias = Float64Array.from(second.bias);
  for (let o = 0; o < outSize; o++) {
    for (let m = 0; m < mid; m++) {
      const w2 = second.weights[o * mid + m];
      if (w2 === 0) continue;
      bias[o] += w2 * first.bias[m];
      for (let i = 0; i < inSize; i++) weights[o * inSize + i] += w2 * first.weights[m * inSize + i];
    }
  }
  return { kind: 'dense', name, inSize, outSize, weights, bias, nodes: [...first.nodes, ...second.nodes] };
}
