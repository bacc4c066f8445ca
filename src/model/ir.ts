/**
 * The layer IR: what an ONNX graph is lowered to before quantization.
 *
 * The IR is a straight chain of layers acting on one flat vector (batch size 1,
 * row-major order, as ONNX lays tensors out). A graph that is a DAG (a residual
 * connection, a product or a concatenation of two activations) is lowered to the same
 * chain: while a value is still needed by a later node it is carried in the vector next
 * to the branch being computed (copied by the linear layers, which costs no constraint,
 * and passed over by the elementwise ones, see `Span`), and Add/Sub/Concat of two
 * activations are linear layers, Mul of two a `mul` layer. Shape operators (Flatten, Reshape,
 * Squeeze, Unsqueeze, Identity, Cast) vanish during lowering because they do not
 * change the flat vector; every linear operator (Gemm, MatMul, Add/Sub/Mul/Div by
 * constants, BatchNormalization) becomes or folds into a `dense` layer, or a `sparse`
 * one (Conv, ConvTranspose, AveragePool, Pad: activations in NCHW order, batch 1).
 *
 * All numbers are floats here; `src/quant` turns them into fixed-point integers.
 */

/** One graph input, as a slice of the flat input vector (several inputs are concatenated). */
export interface IrInput {
  /** The ONNX graph input name. */
  name: string;
  /** Shape without the batch dimension. */
  shape: number[];
  /** Number of scalars (product of `shape`). */
  size: number;
  /** Position of the first scalar of this input in the flat vector. */
  offset: number;
  /**
   * `false` when the graph input has no batch dimension (its first declared dimension
   * is a fixed size other than 1, so every dimension is a feature): onnxruntime is then
   * fed `shape` as is instead of `[1, ...shape]`. Absent means batched.
   */
  batched?: boolean;
  /**
   * Categorical columns (ai.onnx.ml OneHotEncoder / LabelEncoder read them): one entry per
   * column of the graph input (`shape`'s product of them), the column's ordered categories
   * or null for a numeric column. A categorical column is given as one of its categories
   * (a string, or an integer category) and held in the flat vector as its one-hot vector,
   * one feature per category in this order, so `size` counts the flat features. Absent:
   * every column is numeric.
   */
  categories?: (string[] | null)[];
  /**
   * Per column, the value (raw units) a missing entry takes (an ai.onnx.ml Imputer over
   * it, missing = NaN), or null when the column may not be missing. Absent: none may be.
   */
  missing?: (number | null)[];
}

/** `y = W·x + b`, W row-major with `outSize` rows of `inSize` columns. */
export interface DenseLayer {
  kind: 'dense';
  name: string;
  inSize: number;
  outSize: number;
  weights: Float64Array;
  bias: Float64Array;
  /** ONNX node names folded into this layer, for the layer table. */
  nodes: string[];
}

/**
 * `y = A·x + b` with A sparse, in compressed rows: row o's terms are
 * `vals[k] * x[cols[k]]` for k in [rowPtr[o], rowPtr[o + 1]). Conv, ConvTranspose,
 * AveragePool, Pad and elementwise maps lower to it, so memory and circuit text grow
 * with the nonzeros, not with inSize x outSize.
 */
export interface SparseLayer {
  kind: 'sparse';
  name: string;
  inSize: number;
  outSize: number;
  rowPtr: Int32Array;
  cols: Int32Array;
  vals: Float64Array;
  bias: Float64Array;
  nodes: string[];
  /**
   * Set when the terms are a convolution's (1D as 2D with height 1): exactly `conv.weights`
   * at the taps inside the input, zero weights left out. The circuit then gets the kernel
   * once and computes the indices (ConvConst) instead of listing every term.
   */
  conv?: ConvStructure;
}

/** A 2D convolution over [C, H, W] with `pads` at the start of each axis, weights [M, C / group, KH, KW]. */
export interface ConvStructure {
  inShape: [number, number, number];
  outShape: [number, number, number];
  kernel: [number, number];
  strides: [number, number];
  dilations: [number, number];
  pads: [number, number];
  group: number;
  weights: Float64Array;
}

/**
 * MaxPool / GlobalMaxPool: output o is the largest of `x[idx[k]]` for k in
 * [rowPtr[o], rowPtr[o + 1]) (every window holds at least one input: padding never wins).
 */
export interface MaxPoolLayer {
  kind: 'maxpool';
  name: string;
  inSize: number;
  outSize: number;
  rowPtr: Int32Array;
  idx: Int32Array;
  nodes: string[];
}

/**
 * Elementwise layers may apply to a part of the vector only: `span` = [start, end) of
 * the elements they act on, the others passed through unchanged (another branch of a
 * graph that is a DAG, carried alongside). Absent: the whole vector.
 */
export type Span = [number, number];

export interface ReluLayer {
  kind: 'relu';
  name: string;
  size: number;
  span?: Span;
  nodes: string[];
}

/** LeakyRelu (one alpha) or PRelu (alpha per element, already broadcast to `size`). */
export interface LeakyReluLayer {
  kind: 'leaky_relu';
  name: string;
  size: number;
  /** Per element of the whole vector (entries outside `span` unused). */
  alpha: Float64Array;
  span?: Span;
  nodes: string[];
}

export interface ClipLayer {
  kind: 'clip';
  name: string;
  size: number;
  span?: Span;
  /** `-Infinity` / `Infinity` when the bound is absent. */
  min: number;
  max: number;
  nodes: string[];
}

/** Sigmoid inside the network (not the last op): approximated in the circuit. */
export interface SigmoidLayer {
  kind: 'sigmoid';
  name: string;
  size: number;
  span?: Span;
  nodes: string[];
}

/**
 * How an internal tree node tests its feature x against its threshold t (ai.onnx.ml
 * nodes_modes): the node's true branch is taken when the test holds.
 */
export const TREE_MODES = ['BRANCH_LEQ', 'BRANCH_LT', 'BRANCH_GTE', 'BRANCH_GT', 'BRANCH_EQ', 'BRANCH_NEQ'] as const;
export type TreeMode = (typeof TREE_MODES)[number];
/** `TreeEnsembleLayer.mode` of a leaf. */
export const TREE_LEAF = 255;

/**
 * A sum of decision trees (ai.onnx.ml TreeEnsembleClassifier / TreeEnsembleRegressor):
 * `y = base + sum over trees of the weights of the leaf the input reaches`. Nodes of all
 * trees are numbered 0..n-1 together; each tree is a proper binary tree (every node has
 * one parent, its root none), checked at lowering. An AVERAGE aggregation is folded into
 * the leaf weights (1 / number of trees); a binary classifier's complementary column
 * (1 - p) is a second output with weights -w and base 1 - b.
 */
export interface TreeEnsembleLayer {
  kind: 'tree_ensemble';
  name: string;
  inSize: number;
  outSize: number;
  /** Root node of each tree. */
  roots: Int32Array;
  /** Per node: the feature it tests (-1 for a leaf). */
  feature: Int32Array;
  /** Per node: index into TREE_MODES, or TREE_LEAF. */
  mode: Uint8Array;
  threshold: Float64Array;
  /** Per internal node: the node taken when the test holds, and when it does not (-1 for a leaf). */
  trueChild: Int32Array;
  falseChild: Int32Array;
  /** Per node and output (row-major, nodes x outSize): the leaf's weight, 0 for internal nodes. */
  leafWeights: Float64Array;
  /** Per output: the base value. */
  base: Float64Array;
  nodes: string[];
}

/**
 * The elementwise product of two activations (ONNX Mul of two activations): output k is
 * `x[a[k]] * x[b[k]]`, or `x[a[k]]` unchanged where `b[k]` is -1 (a value carried past).
 */
export interface MulLayer {
  kind: 'mul';
  name: string;
  inSize: number;
  outSize: number;
  a: Int32Array;
  b: Int32Array;
  nodes: string[];
}

/**
 * ai.onnx.ml Binarizer: `y = 1 if x > threshold else 0`, elementwise (one threshold per
 * element, the op's one threshold broadcast). Not linear: each element is a range-checked
 * comparison in the circuit.
 */
export interface BinarizeLayer {
  kind: 'binarize';
  name: string;
  size: number;
  /** Per element of the whole vector (entries outside `span` unused). */
  threshold: Float64Array;
  span?: Span;
  nodes: string[];
}

/**
 * ai.onnx.ml Normalizer over one row of `size` values, as onnxruntime computes it:
 * `y = x / n` with n = sum |x_i| (L1), sqrt(sum x_i^2) (L2) or max x_i (MAX: the largest
 * value, signed, not the largest magnitude), and `y = x` when n = 0.
 */
export interface NormalizeLayer {
  kind: 'normalize';
  name: string;
  size: number;
  norm: 'L1' | 'L2' | 'MAX';
  /** The row is these elements (a branch of a DAG); the others are carried. Absent: all. */
  span?: Span;
  nodes: string[];
}

export type Layer =
  | MulLayer
  | DenseLayer
  | SparseLayer
  | MaxPoolLayer
  | ReluLayer
  | LeakyReluLayer
  | ClipLayer
  | SigmoidLayer
  | TreeEnsembleLayer
  | BinarizeLayer
  | NormalizeLayer;
export type LayerKind = Layer['kind'];

/**
 * What happens after the last layer. A final Sigmoid or Softmax is not put in the
 * circuit: the circuit outputs the logits and the decision (threshold at logit 0 for
 * sigmoid, first argmax for softmax); the probability is computed outside the proof.
 * `argmax`: the outputs already are the class scores (a decision tree's or random
 * forest's class probabilities, post_transform NONE) and the decision is the index of
 * the first maximum, as for softmax, with no transform.
 */
export type Head = 'none' | 'sigmoid' | 'softmax' | 'argmax';

export interface ModelIR {
  inputs: IrInput[];
  /** Length of the flat input vector (sum of input sizes). */
  inputSize: number;
  layers: Layer[];
  /** Length of the output vector (logits when `head` is not 'none'). */
  outputSize: number;
  head: Head;
  /** Name of the ONNX graph output. */
  outputName: string;
  /** Shape of the ONNX output without the batch dimension. */
  outputShape: number[];
  /** Default-domain opset version of the model. */
  opset: number;
  /**
   * Class labels declared by the model (ai.onnx.ml LinearClassifier's classlabels_strings
   * or classlabels_ints, as text): the decision names when the user gives none.
   */
  labels?: string[];
  /**
   * How the IR's output (after the head) relates to the ONNX graph's output, when it is
   * not the plain first `outputSize` values: `applyHead(apply, onnx[name][pick])` is what
   * `applyHead(head, logits)` reproduces. A binary LinearClassifier outputs two columns
   * (1 - p, p) where the IR has one logit; a post_transform NONE classifier outputs raw
   * scores where the IR's head gives probabilities. `name` is the tensor to fetch (the
   * input of a ZipMap, whose own output is not a tensor); `trim` lists the ZipMap graph
   * outputs onnxruntime cannot return.
   */
  onnxOutput?: { name: string; pick: number[]; apply: Head; zipMap?: string };
  /** Graph outputs that carry the predicted class label (proven as the decision). */
  labelOutputs?: string[];
}
