import type { Head, NormalizeLayer } from '../../ir.ts';
import { attrFloats, attribute, attrInts, attrString, attrStrings } from '../../onnx/attributes.ts';
import type { NodeProto } from '../../onnx/file.ts';
import { classifierEnd } from '../classifier.ts';
import type { Handler, Lowering } from '../context.ts';
import { type Activation, fail, nodeName } from '../values.ts';

/**
 * The linear part of the ai.onnx.ml domain (what scikit-learn pipelines exported by
 * skl2onnx are made of), lowered into the same dense IR as the default domain:
 * Scaler, ArrayFeatureExtractor and LinearRegressor/LinearClassifier are affine maps
 * with constant weights; FeatureVectorizer merges one graph input per column; ZipMap and
 * a Normalizer(L1) after a binary logistic classifier only relabel what is there. Binarizer
 * and Normalizer elsewhere become their own (non-linear) layers, proven in the circuit.
 * Semantics follow the ai.onnx.ml operator spec and were checked against onnxruntime
 * (test/model/sklearn.test.ts, scripts/make-sklearn-fixtures.py).
 */

/** ai.onnx.ml ops lowered on activations (some only in the forms `mlRefusal` and `treeRefusal` let through). */
export const ML_ACTIVATION_OPS = [
  'ArrayFeatureExtractor',
  'Binarizer',
  'FeatureVectorizer',
  'Imputer',
  'LabelEncoder',
  'LinearClassifier',
  'LinearRegressor',
  'Normalizer',
  'OneHotEncoder',
  'SVMClassifier',
  'SVMRegressor',
  'Scaler',
  'TreeEnsembleClassifier',
  'TreeEnsembleRegressor',
  'ZipMap',
];

/** Why an ai.onnx.ml op is refused; '' when it is not refused outright. */
const REFUSED: Record<string, string> = {
  TreeEnsemble: 'the opset-5 TreeEnsemble op is not supported yet (TreeEnsembleClassifier and TreeEnsembleRegressor are: export with ai.onnx.ml opset 3)',
  CategoryMapper: 'CategoryMapper is not supported (OneHotEncoder and LabelEncoder are)',
  DictVectorizer: 'map inputs are not supported',
  CastMap: 'map inputs are not supported',
};

/**
 * Why this ai.onnx.ml node is refused before lowering starts (null: it may be lowered);
 * tree ensembles are judged by `treeRefusal` (./trees.ts).
 * Decided from the op and its attributes alone, so every refused node of a graph is
 * reported at once.
 */
export function mlRefusal(node: NodeProto): string | null {
  const op = node.opType ?? '';
  if (op in REFUSED) return REFUSED[op];
  if (!ML_ACTIVATION_OPS.includes(op)) return 'not an ai.onnx.ml op zkinfer knows';
  if (op === 'Imputer') {
    const r = attribute(node, 'replaced_value_float');
    if (attribute(node, 'imputed_value_int64s') || !r || !Number.isNaN(r.f))
      return 'only NaN may be replaced (a float Imputer as scikit-learn exports it): a numeric sentinel is an ordinary value to a circuit';
  }
  if (op === 'LabelEncoder' && !attrInts(node, 'values_int64s') && !attrFloats(node, 'values_floats'))
    return 'only string or integer keys mapped to numbers (values_int64s, values_floats) are supported';
  if (op === 'LabelEncoder' && !attrStrings(node, 'keys_strings') && !attrInts(node, 'keys_int64s'))
    return 'only keys_strings or keys_int64s keys are supported';
  if (op === 'OneHotEncoder' && !attrStrings(node, 'cats_strings') && !attrInts(node, 'cats_int64s')) return 'needs cats_strings or cats_int64s';
  if (op === 'Normalizer') {
    const norm = attrString(node, 'norm', 'MAX');
    if (!['L1', 'L2', 'MAX'].includes(norm)) return `norm ${norm} is not one of MAX, L1, L2`;
  }
  if (op === 'Binarizer') {
    const t = attribute(node, 'threshold');
    if (t && !Number.isFinite(t.f ?? 0)) return `threshold ${t.f} is not a finite number`;
  }
  const post = attrString(node, 'post_transform', 'NONE');
  if (op === 'LinearRegressor' && post !== 'NONE') return `post_transform ${post} (only NONE)`;
  if (op === 'LinearClassifier' && !['NONE', 'LOGISTIC', 'SOFTMAX'].includes(post)) return `post_transform ${post} (only NONE, LOGISTIC, SOFTMAX)`;
  if (op === 'SVMClassifier' || op === 'SVMRegressor') {
    const kernel = attrString(node, 'kernel_type', 'LINEAR');
    if (kernel !== 'LINEAR') return `kernel ${kernel} is not linear (only LINEAR)`;
    if (post !== 'NONE') return `post_transform ${post} (only NONE)`;
  }
  if (op === 'SVMRegressor' && Number(attribute(node, 'one_class')?.i ?? 0) !== 0) return 'a one-class SVM outputs a sign, which is not linear';
  if (op === 'SVMClassifier') {
    const labels = attrStrings(node, 'classlabels_strings') ?? attrInts(node, 'classlabels_ints');
    if (attrFloats(node, 'prob_a')) return 'Platt probabilities (probability=True) are not supported';
    if (labels && labels.length > 2) return `one-vs-one voting over ${labels.length} classes is not linear (only two classes)`;
    if (!attrFloats(node, 'support_vectors')) return 'only the support-vector form (SVC) is supported';
  }
  return null;
}

/** The activation as one row of features (batch 1). */
function features(node: NodeProto, act: Activation): number {
  if (act.shape.slice(0, -1).some((d) => d !== 1)) fail(node, `an activation of shape [${act.shape}]: only one row of features is supported`);
  return act.shape.at(-1) ?? 1;
}

/** A per-feature attribute: one value for all, or one per feature. */
function perFeature(node: NodeProto, v: Float64Array | undefined, n: number, dflt: number, what: string): Float64Array {
  if (!v) return new Float64Array(n).fill(dflt);
  if (v.length === 1) return new Float64Array(n).fill(v[0]);
  if (v.length !== n) fail(node, `${what} has ${v.length} values for ${n} features`);
  return v;
}

export const ML_HANDLERS: Record<string, Handler> = {
  /** Y = (X - offset) * scale, per feature. */
  Scaler(L, node, act) {
    const n = features(node, act);
    L.reserveLayer(node, n, n, 2 * n);
    const scale = perFeature(node, attrFloats(node, 'scale'), n, 1, 'scale');
    const offset = perFeature(node, attrFloats(node, 'offset'), n, 0, 'offset');
    L.emit(
      node,
      { kind: 'diag', name: nodeName(node), size: n, scale: Float64Array.from(scale), shift: offset.map((o, i) => -o * scale[i]), nodes: [nodeName(node)] },
      act.shape,
    );
  },
  /** Columns picked by constant indices: a 0/1 selection matrix. */
  ArrayFeatureExtractor(L, node, act) {
    const n = features(node, act);
    const idx = Array.from(L.required(node, 1, 'the column indices').data);
    L.reserveLayer(node, n, idx.length, n * idx.length + idx.length);
    const weights = new Float64Array(idx.length * n);
    idx.forEach((raw, r) => {
      const k = raw < 0 ? raw + n : raw;
      if (!(Number.isInteger(k) && k >= 0 && k < n)) fail(node, `column index ${raw} is outside ${n} features`);
      weights[r * n + k] = 1;
    });
    L.emit(
      node,
      { kind: 'dense', name: nodeName(node), inSize: n, outSize: idx.length, weights, bias: new Float64Array(idx.length), nodes: [nodeName(node)] },
      [1, idx.length],
    );
  },
  LinearRegressor(L, node, act) {
    const n = features(node, act);
    const coef = attrFloats(node, 'coefficients');
    const targets = Number(attribute(node, 'targets')?.i ?? 1);
    if (!coef || coef.length !== targets * n) fail(node, `needs ${targets} x ${n} coefficients, has ${coef?.length ?? 0}`);
    L.reserveLayer(node, n, targets, coef.length + targets);
    const bias = perFeature(node, attrFloats(node, 'intercepts'), targets, 0, 'intercepts');
    L.emit(
      node,
      {
        kind: 'dense',
        name: nodeName(node),
        inSize: n,
        outSize: targets,
        weights: Float64Array.from(coef),
        bias: Float64Array.from(bias),
        nodes: [nodeName(node)],
      },
      [1, targets],
    );
  },
  LinearClassifier: linearClassifier,
  /** Linear kernel: sum_j coef_j <x, sv_j> + rho = w·x + rho with w = sum_j coef_j sv_j. */
  SVMRegressor(L, node, act) {
    const n = features(node, act);
    const w = svmWeights(node, n);
    L.reserveLayer(node, n, 1, n + 1);
    const rho = attrFloats(node, 'rho')?.[0] ?? 0;
    L.emit(node, { kind: 'dense', name: nodeName(node), inSize: n, outSize: 1, weights: w, bias: Float64Array.of(rho), nodes: [nodeName(node)] }, [1, 1]);
  },
  /**
   * Two classes, linear kernel. onnxruntime computes s = w·x + rho, outputs the scores
   * (-s, s) and labels[0] when s > 0, else labels[1] (libsvm's pair order): the logit
   * for labels[1] is -s, which is score column 0.
   */
  SVMClassifier(L, node, act) {
    const n = features(node, act);
    if (!node.output?.[1]) fail(node, 'has no scores output: the proof is about the scores and the decision taken from them');
    const labels = attrStrings(node, 'classlabels_strings') ?? attrInts(node, 'classlabels_ints')?.map(String);
    if (!labels || labels.length !== 2) fail(node, 'needs two class labels');
    const w = svmWeights(node, n).map((v) => -v);
    const rho = attrFloats(node, 'rho')?.[0] ?? 0;
    L.reserveLayer(node, n, 1, n + 1);
    const scoresOut = node.output?.[1] ? 1 : 0;
    L.emit(
      node,
      { kind: 'dense', name: nodeName(node), inSize: n, outSize: 1, weights: w, bias: Float64Array.of(-rho), nodes: [nodeName(node)] },
      [1, 1],
      scoresOut,
    );
    classifierEnd(L, node, scoresOut, { head: 'sigmoid', labels, pick: [0], apply: 'sigmoid' });
  },
  /**
   * L1 over a binary logistic classifier's (1 - p, p) divides by exactly 1: a relabelling.
   * Elsewhere (not over a classifier's scores, which the circuit carries as logits) a
   * normalize layer: one row divided by its L1, L2 or MAX norm, proven in the circuit.
   */
  Normalizer(L, node, act) {
    const norm = attrString(node, 'norm', 'MAX') as NormalizeLayer['norm'];
    if (norm === 'L1' && L.sumsToOne === act.version) {
      L.reshapeAct(node, act.shape);
      return;
    }
    if (L.pendingHead?.final)
      fail(
        node,
        `${norm} normalisation of a classifier's scores is not supported (the circuit proves the scores as logits): only ` +
          `L1 right after a binary logistic LinearClassifier, whose two columns already sum to 1`,
      );
    const n = features(node, act);
    L.reserveLayer(node, n, n, 0);
    L.emit(node, { kind: 'normalize', name: nodeName(node), size: n, norm, nodes: [nodeName(node)] }, act.shape);
  },
  /** y = 1 where x > threshold, else 0, elementwise: a range-checked comparison per element. */
  Binarizer(L, node, act) {
    const n = act.shape.reduce((a, b) => a * b, 1);
    const t = attribute(node, 'threshold')?.f ?? 0;
    L.reserveLayer(node, n, n, n);
    L.emit(node, { kind: 'binarize', name: nodeName(node), size: n, threshold: new Float64Array(n).fill(t), nodes: [nodeName(node)] }, act.shape);
  },
  // Encoders and imputers are lowered in the column prefix (column-prefix.ts), on the input columns.
  OneHotEncoder: prefixOnly,
  LabelEncoder: prefixOnly,
  Imputer: prefixOnly,
  ZipMap(L, node, act) {
    // A list of {label: score} maps: the same scores, relabelled.
    L.zipMaps.set(node.output![0], node.input![0]);
    L.reshapeAct(node, act.shape);
  },
};

function prefixOnly(_L: Lowering, node: NodeProto): never {
  fail(
    node,
    `${node.opType} is supported only on the graph inputs' columns, before any other computation (an encoder reads an ` +
      `input column; an imputer a column, possibly picked or concatenated)`,
  );
}

/**
 * LinearClassifier: scores z = W·x + b, one row of W per score (row-major, per class).
 * The circuit proves the logits and the decision; onnxruntime's label is that decision.
 * - one row and two labels: onnxruntime outputs (f(-z), f(z)) or (1 - p, p) and label
 *   z > 0: a sigmoid head on z;
 * - two rows that are exact negatives (skl2onnx's binary layout): the same, on row 2;
 * - one row per class otherwise: a softmax head (argmax decision); LOGISTIC is refused
 *   there (one-vs-rest sigmoids are not a softmax).
 */
function linearClassifier(L: Lowering, node: NodeProto, act: Activation): void {
  const n = features(node, act);
  if (!node.output?.[1]) fail(node, 'has no scores output: the proof is about the scores and the decision taken from them');
  const coef = attrFloats(node, 'coefficients');
  const labels = attrStrings(node, 'classlabels_strings') ?? attrInts(node, 'classlabels_ints')?.map(String);
  const post = attrString(node, 'post_transform', 'NONE');
  if (!coef || coef.length % n !== 0) fail(node, `${coef?.length ?? 0} coefficients do not make rows of ${n} features`);
  const rows = coef.length / n;
  const b = perFeature(node, attrFloats(node, 'intercepts'), rows, 0, 'intercepts');
  if (!labels || labels.length < 2) fail(node, 'needs at least two class labels');
  let weights: Float64Array;
  let bias: Float64Array;
  let head: 'sigmoid' | 'softmax';
  let pick: number[];
  let sumsToOne = false;
  const symmetric = rows === 2 && coef.subarray(0, n).every((v, i) => v === -coef[n + i]) && b[0] === -b[1];
  if (labels.length === 2 && (rows === 1 || symmetric)) {
    weights = Float64Array.from(coef.subarray(coef.length - n));
    bias = Float64Array.of(b[rows - 1]);
    head = 'sigmoid';
    pick = [1];
    sumsToOne = post === 'LOGISTIC';
  } else if (rows === labels.length) {
    if (post === 'LOGISTIC') fail(node, `post_transform LOGISTIC over ${rows} classes (one-vs-rest) is not a softmax: export a multinomial model`);
    weights = Float64Array.from(coef);
    bias = Float64Array.from(b);
    head = 'softmax';
    pick = labels.map((_, i) => i);
  } else {
    fail(node, `${rows} coefficient rows for ${labels.length} class labels`);
  }
  L.reserveLayer(node, n, bias.length, weights.length + bias.length);
  // NONE: onnxruntime outputs the raw scores, which the head turns into the IR's output.
  const apply: Head = post === 'NONE' ? head : 'none';
  const scoresOut = node.output?.[1] ? 1 : 0;
  L.emit(node, { kind: 'dense', name: nodeName(node), inSize: n, outSize: bias.length, weights, bias, nodes: [nodeName(node)] }, [1, bias.length], scoresOut);
  classifierEnd(L, node, scoresOut, { head, labels, pick, apply });
  if (sumsToOne) L.sumsToOne = L.version;
}

/** The weights of a linear-kernel SVM: sum_j coef_j sv_j, or the coefficients themselves without support vectors. */
function svmWeights(node: NodeProto, n: number): Float64Array {
  const coef = attrFloats(node, 'coefficients');
  const sv = attrFloats(node, 'support_vectors');
  if (!coef) fail(node, 'has no coefficients');
  if (!sv) {
    if (coef.length !== n) fail(node, `${coef.length} coefficients for ${n} features`);
    return Float64Array.from(coef);
  }
  const count = sv.length / n;
  if (!Number.isInteger(count) || coef.length !== count)
    fail(node, `${coef.length} coefficients for ${sv.length / n} support vectors of ${n} features (only two classes)`);
  const w = new Float64Array(n);
  for (let j = 0; j < count; j++) for (let i = 0; i < n; i++) w[i] += coef[j] * sv[j * n + i];
  return w;
}

/** Every ai.onnx.ml op, for the error's supported list. */
export function mlOpsNote(): string {
  return (
    `${ML_ACTIVATION_OPS.join(', ')} (OneHotEncoder, LabelEncoder and Imputer on input columns: categories and NaN ` +
    `imputation applied before proving; Binarizer (threshold) on any activation; Normalizer L1, L2 or MAX ` +
    `(onnxruntime's: divided by the largest value) on one row, or L1 right after a binary logistic classifier as a ` +
    `relabelling; LinearClassifier post_transform NONE, LOGISTIC or SOFTMAX; LinearRegressor NONE; SVMs with a LINEAR ` +
    `kernel, two classes; TreeEnsembleClassifier / TreeEnsembleRegressor with modes BRANCH_LEQ, LT, GTE, GT, EQ, NEQ, ` +
    `aggregate SUM or AVERAGE, post_transform NONE, or LOGISTIC / SOFTMAX for a classifier)`
  );
}
