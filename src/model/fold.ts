import type { DenseLayer, Layer } from './ir.ts';
import { checkLimit, DEFAULT_MODEL_LIMITS, type ModelLimits } from './limits.ts';

/**
 * An elementwise-affine layer `y = scale ∘ x + shift` (Add/Sub/Mul/Div by a constant,
 * BatchNormalization), kept as two vectors while lowering: as a dense layer it is an
 * n x n matrix, which for a wide input is most of the memory a tiny file can demand.
 */
export interface DiagLayer {
  kind: 'diag';
  name: string;
  size: number;
  scale: Float64Array;
  shift: Float64Array;
  nodes: string[];
}

/**
 * Folds adjacent dense layers, because each dense layer costs a rescale (and its
 * rounding) in the circuit. Elementwise-affine (diagonal) layers always fold into a
 * neighbouring dense layer: standardization before a Gemm, BatchNormalization after
 * one, a bias Add after a MatMul. Two full dense layers in a row are composed
 * (W2·W1) only when that does not grow the weight count: 4 -> 64 -> 2 becomes one
 * 4 -> 2 layer, while a bottleneck 16 -> 2 -> 16 stays two layers (64 weights, not 256).
 *
 * A diagonal layer left alone becomes a dense n x n layer, after its size is checked
 * against `limits` (maxLayerWidth, maxParameters with the other layers' weights).
 */
export function foldDenseChain(layers: (Layer | DiagLayer)[], limits: ModelLimits = DEFAULT_MODEL_LIMITS): Layer[] {
  const out: (Layer | DiagLayer)[] = [];
  for (const layer of layers) {
    const prev = out.at(-1);
    if (layer.kind === 'diag' && prev?.kind === 'diag') out[out.length - 1] = diagThenDiag(prev, layer);
    else if (layer.kind === 'diag' && prev?.kind === 'dense') out[out.length - 1] = denseThenDiag(prev, layer);
    else if (layer.kind === 'dense' && prev?.kind === 'diag') out[out.length - 1] = diagThenDense(prev, layer);
    else if (layer.kind === 'dense' && prev?.kind === 'dense' && composeIsSmaller(prev, layer)) out[out.length - 1] = compose(prev, layer, layer.name);
    else out.push(layer);
  }
  // What the circuit will hold: weights of every layer, a leftover diagonal as n x n.
  const params = (l: Layer | DiagLayer) =>
    l.kind === 'dense' ? l.inSize * l.outSize + l.outSize : l.kind === 'diag' ? l.size * l.size + l.size : l.kind === 'leaky_relu' ? l.size : l.kind === 'tree_ensemble' ? l.feature.length * (1 + l.outSize) + l.outSize : 0;
  let total = 0;
  for (const l of out) {
    total += params(l);
    checkLimit(limits, 'maxParameters', total, `the parameter count of the layers up to and including ${l.kind === 'diag' ? `the elementwise layer ${l.name} (as a dense ${l.size} x ${l.size} layer)` : l.name}`, l.name);
  }
  return out.map((l) => (l.kind === 'diag' ? denseFromDiag(l) : l));
}

/** A diagonal layer as the dense layer the circuit takes. */
function denseFromDiag(d: DiagLayer): DenseLayer {
  const n = d.size;
  const weights = new Float64Array(n * n);
  for (let i = 0; i < n; i++) weights[i * n + i] = d.scale[i];
  return { kind: 'dense', name: d.name, inSize: n, outSize: n, weights, bias: d.shift, nodes: d.nodes };
}

// The three compositions below give, bit for bit, what `compose` gives on the dense
// form of the diagonal layer (same operations in the same order, zero terms skipped).

/** second ∘ first for two diagonals: one diagonal, named after the first. */
function diagThenDiag(first: DiagLayer, second: DiagLayer): DiagLayer {
  const n = first.size;
  const scale = new Float64Array(n);
  const shift = Float64Array.from(second.shift);
  for (let o = 0; o < n; o++) {
    const s2 = second.scale[o];
    if (s2 === 0) continue;
    shift[o] += s2 * first.shift[o];
    scale[o] += s2 * first.scale[o];
  }
  return { kind: 'diag', name: first.name, size: n, scale, shift, nodes: [...first.nodes, ...second.nodes] };
}

/** diag(s) · W1: rows scaled; named after the dense layer. */
function denseThenDiag(first: DenseLayer, second: DiagLayer): DenseLayer {
  const { inSize, outSize } = first;
  const weights = new Float64Array(outSize * inSize);
  const bias = Float64Array.from(second.shift);
  for (let o = 0; o < outSize; o++) {
    const s = second.scale[o];
    if (s === 0) continue;
    bias[o] += s * first.bias[o];
    for (let i = 0; i < inSize; i++) weights[o * inSize + i] += s * first.weights[o * inSize + i];
  }
  return { kind: 'dense', name: first.name, inSize, outSize, weights, bias, nodes: [...first.nodes, ...second.nodes] };
}

/** W2 · diag(s): columns scaled, b = W2 · shift + b2; named after the dense layer. */
function diagThenDense(first: DiagLayer, second: DenseLayer): DenseLayer {
  const { inSize, outSize } = second;
  const weights = new Float64Array(outSize * inSize);
  const bias = Float64Array.from(second.bias);
  for (let o = 0; o < outSize; o++) {
    for (let m = 0; m < inSize; m++) {
      const w2 = second.weights[o * inSize + m];
      if (w2 === 0) continue;
      bias[o] += w2 * first.shift[m];
      weights[o * inSize + m] += w2 * first.scale[m];
    }
  }
  return { kind: 'dense', name: second.name, inSize, outSize, weights, bias, nodes: [...first.nodes, ...second.nodes] };
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
