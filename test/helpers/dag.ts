import type { GraphSpec } from '../../src/model/index.ts';
import { rng } from './ir.ts';

/**
 * Small graphs that are DAGs (residual connections, values read by several nodes,
 * Add / Sub / Mul / Concat of two activations), weights from a seeded PRNG.
 */
const r = rng(41);
export const rand = (n: number, scale = 1) => Array.from({ length: n }, () => (r() * 2 - 1) * scale);
export const W = (name: string, dims: number[], scale = 0.6) => ({
  name,
  dims,
  data: rand(
    dims.reduce((a, b) => a * b, 1),
    scale,
  ),
});

/** x[1,6] -> Gemm 8 -> Relu -> Gemm 6 -> Add x -> Relu -> Gemm 3 -> Softmax. */
export const residualMlp = (): GraphSpec => ({
  inputs: [{ name: 'x', dims: ['batch', 6] }],
  output: { name: 'probs', dims: ['batch', 3] },
  initializers: [W('W1', [8, 6]), W('b1', [8], 0.1), W('W2', [6, 8]), W('b2', [6], 0.1), W('W3', [3, 6]), W('b3', [3], 0.1)],
  nodes: [
    { op: 'Gemm', name: 'fc1', inputs: ['x', 'W1', 'b1'], outputs: ['h1'], attrs: { transB: 1 } },
    { op: 'Relu', name: 'relu1', inputs: ['h1'], outputs: ['a1'] },
    { op: 'Gemm', name: 'fc2', inputs: ['a1', 'W2', 'b2'], outputs: ['h2'], attrs: { transB: 1 } },
    { op: 'Add', name: 'skip', inputs: ['h2', 'x'], outputs: ['s'] },
    { op: 'Relu', name: 'relu2', inputs: ['s'], outputs: ['a2'] },
    { op: 'Gemm', name: 'fc3', inputs: ['a2', 'W3', 'b3'], outputs: ['logits'], attrs: { transB: 1 } },
    { op: 'Softmax', name: 'sm', inputs: ['logits'], outputs: ['probs'], attrs: { axis: 1 } },
  ],
});

/** The polynomial features the review found refused: x2 = x * x, s = x2 + x, then a logistic head. */
export const polynomial = (): GraphSpec => ({
  inputs: [{ name: 'x', dims: ['batch', 4] }],
  output: { name: 'p', dims: ['batch', 1] },
  initializers: [W('W', [4, 1]), W('b', [1], 0.1)],
  nodes: [
    { op: 'Mul', name: 'square', inputs: ['x', 'x'], outputs: ['x2'] },
    { op: 'Add', name: 'sum', inputs: ['x2', 'x'], outputs: ['s'] },
    { op: 'MatMul', name: 'mm', inputs: ['s', 'W'], outputs: ['z'] },
    { op: 'Add', name: 'bias', inputs: ['z', 'b'], outputs: ['logit'] },
    { op: 'Sigmoid', name: 'sig', inputs: ['logit'], outputs: ['p'] },
  ],
});

/** Wide and deep: Concat(Relu(Gemm x), x) -> Gemm -> Softmax. */
export const wideDeep = (): GraphSpec => ({
  inputs: [{ name: 'x', dims: ['batch', 5] }],
  output: { name: 'probs', dims: ['batch', 2] },
  initializers: [W('W1', [4, 5]), W('b1', [4], 0.1), W('W2', [2, 9]), W('b2', [2], 0.1)],
  nodes: [
    { op: 'Gemm', name: 'deep', inputs: ['x', 'W1', 'b1'], outputs: ['h'], attrs: { transB: 1 } },
    { op: 'Relu', name: 'relu', inputs: ['h'], outputs: ['a'] },
    { op: 'Concat', name: 'cat', inputs: ['a', 'x'], outputs: ['c'], attrs: { axis: 1 } },
    { op: 'Gemm', name: 'out', inputs: ['c', 'W2', 'b2'], outputs: ['logits'], attrs: { transB: 1 } },
    { op: 'Softmax', name: 'sm', inputs: ['logits'], outputs: ['probs'], attrs: { axis: 1 } },
  ],
});

/** A residual conv block: image + Conv(Relu(Conv(image))), then Relu, global average pool, Gemm. */
export const residualConv = (): GraphSpec => ({
  inputs: [{ name: 'image', dims: ['batch', 2, 6, 6] }],
  output: { name: 'probs', dims: ['batch', 3] },
  initializers: [W('K1', [2, 2, 3, 3], 0.4), W('c1', [2], 0.1), W('K2', [2, 2, 3, 3], 0.4), W('c2', [2], 0.1), W('F', [3, 2]), W('f', [3], 0.1)],
  nodes: [
    { op: 'Conv', name: 'conv1', inputs: ['image', 'K1', 'c1'], outputs: ['h1'], attrs: { pads: [1, 1, 1, 1] } },
    { op: 'Relu', name: 'relu1', inputs: ['h1'], outputs: ['a1'] },
    { op: 'Conv', name: 'conv2', inputs: ['a1', 'K2', 'c2'], outputs: ['h2'], attrs: { pads: [1, 1, 1, 1] } },
    { op: 'Add', name: 'skip', inputs: ['image', 'h2'], outputs: ['s'] },
    { op: 'Relu', name: 'relu2', inputs: ['s'], outputs: ['a2'] },
    { op: 'GlobalAveragePool', name: 'gap', inputs: ['a2'], outputs: ['g'] },
    { op: 'Flatten', name: 'flat', inputs: ['g'], outputs: ['f1'] },
    { op: 'Gemm', name: 'fc', inputs: ['f1', 'F', 'f'], outputs: ['logits'], attrs: { transB: 1 } },
    { op: 'Softmax', name: 'sm', inputs: ['logits'], outputs: ['probs'], attrs: { axis: 1 } },
  ],
});

/** A channel gate (squeeze and excitation, with a ReLU gate): x * Relu(Conv1x1(GAP(x))), broadcast over H, W. */
export const channelGate = (gate: 'Relu' | 'Sigmoid'): GraphSpec => ({
  inputs: [{ name: 'x', dims: ['batch', 3, 4, 4] }],
  output: { name: 'probs', dims: ['batch', 2] },
  initializers: [W('K', [3, 3, 1, 1]), W('k', [3], 0.2), W('F', [2, 48], 0.3), W('f', [2], 0.1)],
  nodes: [
    { op: 'GlobalAveragePool', name: 'squeeze', inputs: ['x'], outputs: ['g'] },
    { op: 'Conv', name: 'excite', inputs: ['g', 'K', 'k'], outputs: ['e'] },
    { op: gate, name: 'gate', inputs: ['e'], outputs: ['s'] },
    { op: 'Mul', name: 'scale', inputs: ['x', 's'], outputs: ['y'] },
    { op: 'Flatten', name: 'flat', inputs: ['y'], outputs: ['f1'] },
    { op: 'Gemm', name: 'fc', inputs: ['f1', 'F', 'f'], outputs: ['logits'], attrs: { transB: 1 } },
    { op: 'Softmax', name: 'sm', inputs: ['logits'], outputs: ['probs'], attrs: { axis: 1 } },
  ],
});

/** One value read by three nodes, and a Sub of two activations: Relu(W1 x) - Relu(W2 x) + x. */
export const threeReads = (): GraphSpec => ({
  inputs: [{ name: 'x', dims: ['batch', 5] }],
  output: { name: 'probs', dims: ['batch', 5] },
  initializers: [W('W1', [5, 5]), W('W2', [5, 5])],
  nodes: [
    { op: 'MatMul', name: 'm1', inputs: ['x', 'W1'], outputs: ['h1'] },
    { op: 'Relu', name: 'r1', inputs: ['h1'], outputs: ['a1'] },
    { op: 'MatMul', name: 'm2', inputs: ['x', 'W2'], outputs: ['h2'] },
    { op: 'Relu', name: 'r2', inputs: ['h2'], outputs: ['a2'] },
    { op: 'Sub', name: 'diff', inputs: ['a1', 'a2'], outputs: ['d'] },
    { op: 'Add', name: 'skip', inputs: ['d', 'x'], outputs: ['logits'] },
    { op: 'Softmax', name: 'sm', inputs: ['logits'], outputs: ['probs'], attrs: { axis: 1 } },
  ],
});

/** Two graph inputs read apart: a deep branch on `deep`, then Concat with the raw `wide` input (Keras wide and deep). */
export const twoInputs = (): GraphSpec => ({
  inputs: [
    { name: 'wide', dims: ['batch', 3] },
    { name: 'deep', dims: ['batch', 4] },
  ],
  output: { name: 'probs', dims: ['batch', 2] },
  initializers: [W('W1', [5, 4]), W('b1', [5], 0.1), W('W2', [2, 8]), W('b2', [2], 0.1)],
  nodes: [
    { op: 'Gemm', name: 'deep1', inputs: ['deep', 'W1', 'b1'], outputs: ['h'], attrs: { transB: 1 } },
    { op: 'Relu', name: 'relu', inputs: ['h'], outputs: ['a'] },
    { op: 'Concat', name: 'cat', inputs: ['wide', 'a'], outputs: ['c'], attrs: { axis: -1 } },
    { op: 'Gemm', name: 'out', inputs: ['c', 'W2', 'b2'], outputs: ['logits'], attrs: { transB: 1 } },
    { op: 'Softmax', name: 'sm', inputs: ['logits'], outputs: ['probs'], attrs: { axis: 1 } },
  ],
});

/** Max of two branches, Sum of three values and a constant, Mean of two: Mean(Sum(Max(Relu(x W1), x W2), x, c), x W2) W3. */
export const variadic = (): GraphSpec => ({
  inputs: [{ name: 'x', dims: ['batch', 4] }],
  output: { name: 'probs', dims: ['batch', 3] },
  initializers: [W('W1', [4, 4]), W('W2', [4, 4]), W('c', [4], 0.2), W('W3', [4, 3])],
  nodes: [
    { op: 'MatMul', name: 'm1', inputs: ['x', 'W1'], outputs: ['h1'] },
    { op: 'Relu', name: 'r1', inputs: ['h1'], outputs: ['a1'] },
    { op: 'MatMul', name: 'm2', inputs: ['x', 'W2'], outputs: ['h2'] },
    { op: 'Max', name: 'max', inputs: ['a1', 'h2'], outputs: ['m'] },
    { op: 'Sum', name: 'sum', inputs: ['m', 'x', 'c'], outputs: ['s'] },
    { op: 'Mean', name: 'mean', inputs: ['s', 'h2'], outputs: ['e'] },
    { op: 'MatMul', name: 'm3', inputs: ['e', 'W3'], outputs: ['logits'] },
    { op: 'Softmax', name: 'sm', inputs: ['logits'], outputs: ['probs'], attrs: { axis: 1 } },
  ],
});

const ML = 'ai.onnx.ml';

/**
 * A ColumnTransformer as skl2onnx writes it, with a Binarizer on some columns: columns
 * [0, 1] picked and binarized, [2, 3] picked and scaled, concatenated, a logistic regression.
 */
export const columnsBinarized = (): GraphSpec => ({
  inputs: [{ name: 'x', dims: ['N', 4] }],
  output: { name: 'p', dims: ['N', 1] },
  initializers: [
    { name: 'binCols', dims: [2], data: [0, 1], type: 'int64' },
    { name: 'numCols', dims: [2], data: [2, 3], type: 'int64' },
    W('W', [4, 1], 1),
    W('b', [1], 0.2),
  ],
  nodes: [
    { op: 'ArrayFeatureExtractor', domain: ML, name: 'pickBin', inputs: ['x', 'binCols'], outputs: ['xb'] },
    { op: 'Binarizer', domain: ML, name: 'bin', inputs: ['xb'], outputs: ['yb'], attrs: { threshold: { float: 0.25 } } },
    { op: 'ArrayFeatureExtractor', domain: ML, name: 'pickNum', inputs: ['x', 'numCols'], outputs: ['xn'] },
    { op: 'Scaler', domain: ML, name: 'scale', inputs: ['xn'], outputs: ['yn'], attrs: { offset: { floats: [0.1, -0.2] }, scale: { floats: [1.5, 0.8] } } },
    { op: 'Concat', name: 'merge', inputs: ['yb', 'yn'], outputs: ['z'], attrs: { axis: 1 } },
    { op: 'MatMul', name: 'lr', inputs: ['z', 'W'], outputs: ['s'] },
    { op: 'Add', name: 'bias', inputs: ['s', 'b'], outputs: ['logit'] },
    { op: 'Sigmoid', name: 'sig', inputs: ['logit'], outputs: ['p'] },
  ],
});

/** An L2 Normalizer on a branch, the raw input carried beside it: Gemm(Concat(Normalizer(Relu(x W1)), x)). */
export const normalizedBranch = (): GraphSpec => ({
  inputs: [{ name: 'x', dims: ['N', 4] }],
  output: { name: 'probs', dims: ['N', 2] },
  initializers: [W('W1', [4, 3]), W('W2', [2, 7]), W('b2', [2], 0.1)],
  nodes: [
    { op: 'MatMul', name: 'm1', inputs: ['x', 'W1'], outputs: ['h'] },
    { op: 'Relu', name: 'r1', inputs: ['h'], outputs: ['a'] },
    { op: 'Normalizer', domain: ML, name: 'l2', inputs: ['a'], outputs: ['n'], attrs: { norm: { string: 'L2' } } },
    { op: 'Concat', name: 'cat', inputs: ['n', 'x'], outputs: ['c'], attrs: { axis: 1 } },
    { op: 'Gemm', name: 'out', inputs: ['c', 'W2', 'b2'], outputs: ['logits'], attrs: { transB: 1 } },
    { op: 'Softmax', name: 'sm', inputs: ['logits'], outputs: ['probs'], attrs: { axis: 1 } },
  ],
});

/** A Keras CNN as tf2onnx writes it: an NHWC input transposed to NCHW, Conv, Relu, ReduceMean over H and W, Gemm. */
export const nhwcConv = (): GraphSpec => ({
  inputs: [{ name: 'image', dims: ['N', 5, 5, 2] }],
  output: { name: 'probs', dims: ['N', 3] },
  initializers: [W('K', [4, 2, 3, 3], 0.4), W('k', [4], 0.1), W('F', [3, 4]), W('f', [3], 0.1), { name: 'axes', dims: [2], data: [2, 3], type: 'int64' }],
  nodes: [
    { op: 'Transpose', name: 'nchw', inputs: ['image'], outputs: ['x'], attrs: { perm: [0, 3, 1, 2] } },
    { op: 'Conv', name: 'conv', inputs: ['x', 'K', 'k'], outputs: ['h'], attrs: { pads: [1, 1, 1, 1] } },
    { op: 'Relu', name: 'relu', inputs: ['h'], outputs: ['a'] },
    { op: 'ReduceMean', name: 'gap', inputs: ['a'], outputs: ['g'], attrs: { axes: [2, 3], keepdims: 0 } },
    { op: 'Gemm', name: 'fc', inputs: ['g', 'F', 'f'], outputs: ['logits'], attrs: { transB: 1 } },
    { op: 'Softmax', name: 'sm', inputs: ['logits'], outputs: ['probs'], attrs: { axis: 1 } },
  ],
});

/** Feature selection on activations: Slice of the first 4 features, Gather of features 5 and 1 negated, ReduceSum, Concat, Gemm. */
export const selections = (): GraphSpec => ({
  inputs: [{ name: 'x', dims: ['N', 6] }],
  output: { name: 'probs', dims: ['N', 2] },
  initializers: [
    { name: 'starts', dims: [1], data: [0], type: 'int64' },
    { name: 'ends', dims: [1], data: [4], type: 'int64' },
    { name: 'axes', dims: [1], data: [1], type: 'int64' },
    { name: 'idx', dims: [2], data: [5, -5], type: 'int64' },
    { name: 'raxes', dims: [1], data: [1], type: 'int64' },
    W('W1', [6, 4]),
    W('W2', [7, 2]),
  ],
  nodes: [
    { op: 'MatMul', name: 'm1', inputs: ['x', 'W1'], outputs: ['h'] },
    { op: 'Relu', name: 'r1', inputs: ['h'], outputs: ['a'] },
    { op: 'Slice', name: 'first4', inputs: ['x', 'starts', 'ends', 'axes'], outputs: ['s'] },
    { op: 'Gather', name: 'pick', inputs: ['x', 'idx'], outputs: ['g'], attrs: { axis: 1 } },
    { op: 'Neg', name: 'neg', inputs: ['g'], outputs: ['ng'] },
    { op: 'ReduceSum', name: 'total', inputs: ['a', 'raxes'], outputs: ['t'], attrs: { keepdims: 1 } },
    { op: 'Add', name: 'mix', inputs: ['s', 'a'], outputs: ['m'] },
    { op: 'Concat', name: 'cat', inputs: ['m', 'ng', 't'], outputs: ['c'], attrs: { axis: 1 } },
    { op: 'MatMul', name: 'm2', inputs: ['c', 'W2'], outputs: ['logits'] },
    { op: 'Softmax', name: 'sm', inputs: ['logits'], outputs: ['probs'], attrs: { axis: 1 } },
  ],
});
