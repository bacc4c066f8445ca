import { type DenseLayer, type Layer, type SparseLayer, TREE_LEAF, TREE_MODES, type TreeEnsembleLayer } from '../ir.ts';
import { composeConv, convTermCount, csrFromConv, scaleConvInputs, scaleConvOutputs } from './conv-structure.ts';
import { checkLimit, DEFAULT_MODEL_LIMITS, type ModelLimits } from '../limits.ts';

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
 * Folds adjacent linear layers, because each one costs a rescale (and its rounding) in
 * the circuit. Elementwise-affine (diagonal) layers always fold into a neighbouring
 * dense or sparse layer: standardization before a Gemm, BatchNormalization after one
 * or after a Conv, a bias Add after a MatMul. Two dense layers in a row are composed
 * (W2·W1) only when that does not grow the weight count: 4 -> 64 -> 2 becomes one
 * 4 -> 2 layer, while a bottleneck 16 -> 2 -> 16 stays two layers (64 weights, not 256).
 * A sparse layer (Conv, pooling) composes with its neighbour under the same rule on
 * nonzeros: Conv then AveragePool is one map (a 6x6 stride-2 kernel for 5x5 then 2x2),
 * while AveragePool then Conv stays two layers (the product would have 4x the terms).
 *
 * A diagonal layer left alone becomes a sparse layer (its n nonzeros); the total is
 * checked against `limits.maxParameters`.
 */
export function foldDenseChain(layers: (Layer | DiagLayer)[], limits: ModelLimits = DEFAULT_MODEL_LIMITS): Layer[] {
  const out: (Layer | DiagLayer)[] = [];
  for (const layer of layers) foldInto(out, layer);
  let total = 0;
  for (const l of out) {
    total += layerParameters(l);
    checkLimit(
      limits,
      'maxParameters',
      total,
      `the parameter count of the layers up to and including ${l.kind === 'diag' ? `the elementwise layer ${l.name}` : l.name}`,
      l.name,
    );
  }
  return out.map((l) => (l.kind === 'diag' ? sparseFromDiag(l) : l));
}

/** What a layer holds in the circuit: weights and biases, nonzeros of a sparse one, window indices of a max pool. */
export function layerParameters(l: Layer | DiagLayer): number {
  switch (l.kind) {
    case 'dense':
      return l.inSize * l.outSize + l.outSize;
    case 'sparse':
      return l.vals.length + l.outSize;
    case 'maxpool':
      return l.idx.length;
    case 'diag':
      return 2 * l.size;
    case 'leaky_relu':
      return l.size;
    case 'mul':
      return 2 * l.outSize;
    case 'tree_ensemble':
      return l.feature.length * (1 + l.outSize) + l.outSize;
    case 'binarize':
      return l.size;
    default:
      return 0;
  }
}

/** Appends `layer` to a folded chain, folding it into the last layer when that is worth it. */
export function foldInto(out: (Layer | DiagLayer)[], layer: Layer | DiagLayer): void {
  const prev = out.at(-1);
  const last = out.length - 1;
  const trees =
    layer.kind === 'tree_ensemble' && (prev?.kind === 'diag' || prev?.kind === 'sparse' || prev?.kind === 'dense') ? affineThenTrees(prev, layer) : null;
  if (trees) out[last] = trees;
  else if (layer.kind === 'diag' && prev?.kind === 'diag') out[last] = diagThenDiag(prev, layer);
  else if (layer.kind === 'diag' && prev?.kind === 'dense') out[last] = denseThenDiag(prev, layer);
  else if (layer.kind === 'dense' && prev?.kind === 'diag') out[last] = diagThenDense(prev, layer);
  else if (layer.kind === 'diag' && prev?.kind === 'sparse') out[last] = sparseThenDiag(prev, layer);
  else if (layer.kind === 'sparse' && prev?.kind === 'diag') out[last] = diagThenSparse(prev, layer);
  else if (layer.kind === 'dense' && prev?.kind === 'dense' && composeIsSmaller(prev, layer)) out[last] = compose(prev, layer, layer.name);
  else if (
    (layer.kind === 'sparse' || layer.kind === 'dense') &&
    (prev?.kind === 'sparse' || prev?.kind === 'dense') &&
    (layer.kind === 'sparse' || prev.kind === 'sparse')
  ) {
    const c = (prev.kind === 'sparse' && layer.kind === 'sparse' ? composeConvLayers(prev, layer) : null) ?? composeSparse(prev, layer);
    if (c) out[last] = c;
    else out.push(layer);
  } else out.push(layer);
}

/** A diagonal layer as a sparse layer with one term per row. */
export function sparseFromDiag(d: DiagLayer): SparseLayer {
  const n = d.size;
  const rowPtr = new Int32Array(n + 1);
  const cols = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    rowPtr[i + 1] = i + 1;
    cols[i] = i;
  }
  return { kind: 'sparse', name: d.name, inSize: n, outSize: n, rowPtr, cols, vals: Float64Array.from(d.scale), bias: d.shift, nodes: d.nodes };
}

/** A sparse layer without its convolution structure (its terms no longer follow a kernel). */
export function plain(l: SparseLayer): SparseLayer {
  const { conv: _conv, ...rest } = l;
  return rest;
}

/** diag(s) · A: rows scaled, b = s ∘ b1 + shift. A convolution stays one when s is constant per output channel. */
function sparseThenDiag(first: SparseLayer, second: DiagLayer): SparseLayer {
  const vals = new Float64Array(first.vals.length);
  const bias = Float64Array.from(second.shift);
  for (let o = 0; o < first.outSize; o++) {
    const s = second.scale[o];
    bias[o] += s * first.bias[o];
    for (let k = first.rowPtr[o]; k < first.rowPtr[o + 1]; k++) vals[k] = s * first.vals[k];
  }
  const nodes = [...first.nodes, ...second.nodes];
  const conv = first.conv && scaleConvOutputs(first.conv, second.scale);
  if (conv) return csrFromConv(conv, bias, first.name, nodes);
  return { ...plain(first), vals, bias, nodes };
}

/** A · diag(s): columns scaled, b = A · shift + b2. A convolution stays one when s is constant per input channel. */
function diagThenSparse(first: DiagLayer, second: SparseLayer): SparseLayer {
  const vals = new Float64Array(second.vals.length);
  const bias = Float64Array.from(second.bias);
  for (let o = 0; o < second.outSize; o++) {
    for (let k = second.rowPtr[o]; k < second.rowPtr[o + 1]; k++) {
      const m = second.cols[k];
      bias[o] += second.vals[k] * first.shift[m];
      vals[k] = second.vals[k] * first.scale[m];
    }
  }
  const nodes = [...first.nodes, ...second.nodes];
  const conv = second.conv && scaleConvInputs(second.conv, first.scale);
  if (conv) return csrFromConv(conv, bias, second.name, nodes);
  return { ...plain(second), vals, bias, nodes };
}

/**
 * Two convolutions, the second unpadded (Conv then AveragePool), as one convolution
 * when its terms are no more than the two layers' together; null otherwise.
 */
function composeConvLayers(first: SparseLayer, second: SparseLayer): SparseLayer | null {
  if (!first.conv || !second.conv) return null;
  const budget = first.vals.length + second.vals.length;
  const [M] = second.conv.outShape;
  const [C] = first.conv.inShape;
  const ext = [0, 1].map(
    (d) => (first.conv!.kernel[d] - 1) * first.conv!.dilations[d] + first.conv!.strides[d] * second.conv!.dilations[d] * (second.conv!.kernel[d] - 1) + 1,
  );
  // The kernel is built before its terms are counted: bounded first.
  if (M * C * ext[0] * ext[1] > 8 * budget) return null;
  const conv = composeConv(first.conv, second.conv);
  if (!conv || convTermCount(conv) > budget) return null;
  const bias = Float64Array.from(second.bias);
  for (let o = 0; o < second.outSize; o++) for (let k = second.rowPtr[o]; k < second.rowPtr[o + 1]; k++) bias[o] += second.vals[k] * first.bias[second.cols[k]];
  return csrFromConv(conv, bias, second.name, [...first.nodes, ...second.nodes]);
}

/** Compressed rows of a dense or sparse layer (a dense layer's zero weights left out). */
function csr(l: DenseLayer | SparseLayer): { rowPtr: Int32Array; cols: Int32Array; vals: Float64Array } {
  if (l.kind === 'sparse') return l;
  let nnz = 0;
  for (const v of l.weights) if (v !== 0) nnz++;
  const rowPtr = new Int32Array(l.outSize + 1);
  const cols = new Int32Array(nnz);
  const vals = new Float64Array(nnz);
  let k = 0;
  for (let o = 0; o < l.outSize; o++) {
    for (let i = 0; i < l.inSize; i++) {
      const v = l.weights[o * l.inSize + i];
      if (v === 0) continue;
      cols[k] = i;
      vals[k++] = v;
    }
    rowPtr[o + 1] = k;
  }
  return { rowPtr, cols, vals };
}

/**
 * second ∘ first when at least one is sparse, or null when the product would hold more
 * terms than the two together (or cost more than 8x their terms to find out: the work
 * is counted before any of it is done). Named after the second layer, as `compose`.
 */
function composeSparse(first: DenseLayer | SparseLayer, second: DenseLayer | SparseLayer): DenseLayer | SparseLayer | null {
  const a = csr(first);
  const b = csr(second);
  const budget = a.vals.length + b.vals.length + first.outSize + second.outSize;
  let work = 0;
  for (let k = 0; k < b.vals.length; k++) {
    const m = b.cols[k];
    work += a.rowPtr[m + 1] - a.rowPtr[m];
  }
  if (work > 8 * budget) return null;
  // Count the product's nonzero positions, row by row, with a marker per column.
  const mark = new Int32Array(first.inSize).fill(-1);
  let nnz = 0;
  for (let o = 0; o < second.outSize; o++) {
    for (let k = b.rowPtr[o]; k < b.rowPtr[o + 1]; k++) {
      const m = b.cols[k];
      for (let t = a.rowPtr[m]; t < a.rowPtr[m + 1]; t++) {
        if (mark[a.cols[t]] !== o) {
          mark[a.cols[t]] = o;
          nnz++;
        }
      }
    }
  }
  if (nnz + second.outSize > a.vals.length + b.vals.length + first.outSize + second.outSize) return null;
  const rowPtr = new Int32Array(second.outSize + 1);
  const cols = new Int32Array(nnz);
  const vals = new Float64Array(nnz);
  const bias = Float64Array.from(second.bias);
  const acc = new Float64Array(first.inSize);
  const pos = new Int32Array(first.inSize).fill(-1);
  let n = 0;
  for (let o = 0; o < second.outSize; o++) {
    const start = n;
    for (let k = b.rowPtr[o]; k < b.rowPtr[o + 1]; k++) {
      const m = b.cols[k];
      const w2 = b.vals[k];
      bias[o] += w2 * first.bias[m];
      for (let t = a.rowPtr[m]; t < a.rowPtr[m + 1]; t++) {
        const i = a.cols[t];
        if (pos[i] < start) {
          pos[i] = n;
          cols[n++] = i;
          acc[i] = 0;
        }
        acc[i] += w2 * a.vals[t];
      }
    }
    // Columns in increasing order: the circuit text does not depend on the fold order.
    const row = Array.from(cols.subarray(start, n)).sort((x, y) => x - y);
    for (let j = 0; j < row.length; j++) {
      cols[start + j] = row[j];
      vals[start + j] = acc[row[j]];
    }
    rowPtr[o + 1] = n;
  }
  const nodes = [...first.nodes, ...second.nodes];
  if (2 * nnz > first.inSize * second.outSize) {
    // Mostly nonzero: the dense form is the more compact circuit text.
    const weights = new Float64Array(first.inSize * second.outSize);
    for (let o = 0; o < second.outSize; o++) for (let k = rowPtr[o]; k < rowPtr[o + 1]; k++) weights[o * first.inSize + cols[k]] = vals[k];
    return { kind: 'dense', name: second.name, inSize: first.inSize, outSize: second.outSize, weights, bias, nodes };
  }
  return { kind: 'sparse', name: second.name, inSize: first.inSize, outSize: second.outSize, rowPtr, cols, vals, bias, nodes };
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

/**
 * A per-feature affine map before a tree ensemble (a Scaler, a StandardScaler in a
 * column prefix: each feature the tree reads is a·x_c + b of one input) folds into the
 * trees: testing a·x_c + b against t is testing x_c against (t - b) / a, the comparison
 * reversed when a < 0. The trees then read the map's inputs themselves (the model's
 * inputs at their own calibrated scales, when the map was the first layer), with no
 * rescale. Null (no fold) when a tested feature is not such a map of one input, or a
 * threshold would not be finite.
 */
function affineThenTrees(first: DiagLayer | SparseLayer | DenseLayer, trees: TreeEnsembleLayer): TreeEnsembleLayer | null {
  const term = (j: number): [number, number, number] | null => {
    if (first.kind === 'diag') return first.scale[j] === 0 ? null : [j, first.scale[j], first.shift[j]];
    let found: [number, number] | null = null;
    if (first.kind === 'sparse') {
      for (let k = first.rowPtr[j]; k < first.rowPtr[j + 1]; k++) {
        if (first.vals[k] === 0) continue;
        if (found) return null;
        found = [first.cols[k], first.vals[k]];
      }
    } else {
      for (let i = 0; i < first.inSize; i++) {
        const v = first.weights[j * first.inSize + i];
        if (v === 0) continue;
        if (found) return null;
        found = [i, v];
      }
    }
    return found ? [found[0], found[1], first.bias[j]] : null;
  };
  const reversed: Record<string, number> = { BRANCH_LEQ: 2, BRANCH_LT: 3, BRANCH_GTE: 0, BRANCH_GT: 1 };
  const feature = Int32Array.from(trees.feature);
  const mode = Uint8Array.from(trees.mode);
  const threshold = Float64Array.from(trees.threshold);
  for (let i = 0; i < feature.length; i++) {
    if (trees.mode[i] === TREE_LEAF) continue;
    const m = term(trees.feature[i]);
    if (!m) return null;
    const [c, a, b] = m;
    const t = (trees.threshold[i] - b) / a;
    if (!Number.isFinite(t)) return null;
    feature[i] = c;
    threshold[i] = t;
    if (a < 0) mode[i] = reversed[TREE_MODES[trees.mode[i]]] ?? trees.mode[i];
  }
  const inSize = first.kind === 'diag' ? first.size : first.inSize;
  return { ...trees, inSize, feature, mode, threshold, nodes: [...first.nodes, ...trees.nodes] };
}
