import { ZkinferError } from '../../../core/errors.ts';
import { type Head, TREE_LEAF, TREE_MODES, type TreeEnsembleLayer } from '../../ir.ts';
import { attrFloatsOrTensor, attribute, attrInts, attrString, attrStrings } from '../../onnx/attributes.ts';
import type { NodeProto } from '../../onnx/file.ts';
import { classifierEnd } from '../classifier.ts';
import type { Handler, Lowering } from '../context.ts';
import { type Activation, fail, nodeName } from '../values.ts';

/**
 * ai.onnx.ml TreeEnsembleClassifier / TreeEnsembleRegressor (opset 1 and 3), as
 * skl2onnx (scikit-learn trees, random forests, gradient boosting) and onnxmltools
 * (XGBoost, LightGBM) write them, lowered to one `tree_ensemble` layer: the sum over
 * trees of the weights of the leaf the input reaches, plus the base values. Semantics
 * follow onnxruntime's implementation (tree_ensemble_aggregator.h), checked against it
 * in test/model/trees.test.ts:
 *
 * - a regressor (aggregate SUM, or AVERAGE folded into the weights as 1 / trees) with
 *   post_transform NONE has no head;
 * - a classifier with weights for one class id only (skl2onnx's and onnxmltools' binary
 *   layout) scores z = base + sum. With a negative weight somewhere onnxruntime labels
 *   z > 0 and outputs (f(-z), f(z)): a sigmoid head on z (LOGISTIC, or NONE read through
 *   the sigmoid). With every weight >= 0 (a decision tree's or a random forest's
 *   probability of class 1) it labels z > 0.5 and outputs (1 - z, z): the layer outputs
 *   both columns and the decision is their first argmax (ties go to class 0, as z > 0.5);
 * - a classifier with a column per class scores each class: a softmax head (SOFTMAX), or
 *   the scores as they are with their first argmax as the decision (NONE).
 *
 * The inputs are never NaN (every input is checked finite before it is quantized), so
 * nodes_missing_value_tracks_true never applies and is accepted.
 */

export const TREE_OPS = ['TreeEnsembleClassifier', 'TreeEnsembleRegressor'];

/** Why a TreeEnsemble node is refused from its attributes alone (null: it may be lowered). */
export function treeRefusal(node: NodeProto): string | null {
  const op = node.opType ?? '';
  const post = attrString(node, 'post_transform', 'NONE');
  const problems: string[] = [];
  if (op === 'TreeEnsembleRegressor') {
    if (post !== 'NONE') problems.push(`post_transform ${post} on a regressor (only NONE)`);
    const agg = attrString(node, 'aggregate_function', 'SUM');
    if (agg !== 'SUM' && agg !== 'AVERAGE') problems.push(`aggregate_function ${agg} is not a sum (only SUM, AVERAGE)`);
  } else if (!['NONE', 'LOGISTIC', 'SOFTMAX'].includes(post)) {
    problems.push(`post_transform ${post} (only NONE, LOGISTIC, SOFTMAX)`);
  }
  const modes = new Set(attrStrings(node, 'nodes_modes') ?? []);
  const bad = [...modes].filter((m) => m !== 'LEAF' && !(TREE_MODES as readonly string[]).includes(m));
  if (bad.length) problems.push(`node mode ${bad.slice(0, 3).join(', ')} (only ${TREE_MODES.join(', ')}, LEAF)`);
  return problems.length ? problems.join('; ') : null;
}

/** The parsed and checked trees, before they become outputs. */
/** The tree structure as the layer holds it, and the leaf weights as the node lists them. */
interface Forest extends Pick<TreeEnsembleLayer, 'roots' | 'feature' | 'mode' | 'threshold' | 'trueChild' | 'falseChild'> {
  /** Per leaf weight entry: node index, output id, weight. */
  wNode: Int32Array;
  wId: Int32Array;
  wValue: Float64Array;
}

/**
 * Reads and checks the tree structure: every (tree, node) id once, children in the same
 * tree, every node but the root with exactly one parent, every node reachable from its
 * tree's root (which must be the tree's first node, where onnxruntime starts), features
 * in range, finite thresholds and weights on leaves. Nothing here recurses, so a deep or
 * malicious tree costs time linear in its size.
 */
function readForest(L: Lowering, node: NodeProto, nFeatures: number, prefix: 'class' | 'target'): Forest {
  const treeIds = attrInts(node, 'nodes_treeids') ?? [];
  const nodeIds = attrInts(node, 'nodes_nodeids') ?? [];
  const feats = attrInts(node, 'nodes_featureids') ?? [];
  const values = attrFloatsOrTensor(node, 'nodes_values', L.limits) ?? new Float64Array(treeIds.length);
  const modes = attrStrings(node, 'nodes_modes') ?? [];
  const trueIds = attrInts(node, 'nodes_truenodeids') ?? [];
  const falseIds = attrInts(node, 'nodes_falsenodeids') ?? [];
  const n = treeIds.length;
  if (n === 0) fail(node, 'has no tree nodes');
  for (const [what, a] of [
    ['nodes_nodeids', nodeIds],
    ['nodes_featureids', feats],
    ['nodes_values', values],
    ['nodes_modes', modes],
    ['nodes_truenodeids', trueIds],
    ['nodes_falsenodeids', falseIds],
  ] as const) {
    if (a.length !== n) fail(node, `${what} has ${a.length} entries for ${n} nodes`);
  }
  const wTrees = attrInts(node, `${prefix}_treeids`) ?? [];
  const wNodes = attrInts(node, `${prefix}_nodeids`) ?? [];
  const wIds = attrInts(node, `${prefix}_ids`) ?? [];
  const wVals = attrFloatsOrTensor(node, `${prefix}_weights`, L.limits) ?? new Float64Array(0);
  const m = wTrees.length;
  if (wNodes.length !== m || wIds.length !== m || wVals.length !== m) fail(node, `${prefix}_treeids, _nodeids, _ids and _weights have different lengths`);

  const index = new Map<string, number>();
  const key = (t: number, k: number) => `${t}:${k}`;
  for (let i = 0; i < n; i++) {
    const k = key(treeIds[i], nodeIds[i]);
    if (index.has(k)) fail(node, `tree ${treeIds[i]} lists node ${nodeIds[i]} twice`);
    index.set(k, i);
  }
  const feature = new Int32Array(n).fill(-1);
  const mode = new Uint8Array(n).fill(TREE_LEAF);
  const threshold = new Float64Array(n);
  const trueChild = new Int32Array(n).fill(-1);
  const falseChild = new Int32Array(n).fill(-1);
  const parents = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    if (modes[i] === 'LEAF') continue;
    const mi = (TREE_MODES as readonly string[]).indexOf(modes[i]);
    if (mi < 0) fail(node, `node ${nodeIds[i]} of tree ${treeIds[i]} has mode ${modes[i]}`);
    mode[i] = mi;
    if (!Number.isInteger(feats[i]) || feats[i] < 0 || feats[i] >= nFeatures)
      fail(node, `node ${nodeIds[i]} of tree ${treeIds[i]} tests feature ${feats[i]} of ${nFeatures}`);
    feature[i] = feats[i];
    if (!Number.isFinite(values[i]))
      throw new ZkinferError(
        'MODEL_BAD_WEIGHTS',
        `${node.opType} "${nodeName(node)}": node ${nodeIds[i]} of tree ${treeIds[i]} has threshold ${values[i]}`,
        nodeName(node),
      );
    threshold[i] = values[i];
    for (const [ids, out] of [
      [trueIds, trueChild],
      [falseIds, falseChild],
    ] as const) {
      const c = index.get(key(treeIds[i], ids[i]));
      if (c === undefined) fail(node, `node ${nodeIds[i]} of tree ${treeIds[i]} points to node ${ids[i]}, which the tree does not have`);
      if (parents[c] > 0) fail(node, `node ${ids[i]} of tree ${treeIds[i]} has two parents: only trees are supported`);
      parents[c] = 1;
      out[i] = c;
    }
  }
  // Roots: the one node of each tree without a parent, listed first in its tree.
  const roots: number[] = [];
  const seenTree = new Set<number>();
  for (let i = 0; i < n; i++) {
    if (seenTree.has(treeIds[i])) {
      if (parents[i] === 0) fail(node, `tree ${treeIds[i]} has more than one root (node ${nodeIds[i]} has no parent)`);
      continue;
    }
    seenTree.add(treeIds[i]);
    if (parents[i] !== 0) fail(node, `the first node listed for tree ${treeIds[i]} (node ${nodeIds[i]}) is not its root`);
    roots.push(i);
  }
  // Reachability from the roots (iteratively): a node not reached sits on a cycle.
  const reached = new Uint8Array(n);
  const stack = [...roots];
  while (stack.length) {
    const i = stack.pop()!;
    reached[i] = 1;
    if (mode[i] !== TREE_LEAF) stack.push(trueChild[i], falseChild[i]);
  }
  const lost = reached.indexOf(0);
  if (lost >= 0) fail(node, `node ${nodeIds[lost]} of tree ${treeIds[lost]} cannot be reached from the tree's root (a cycle)`);

  const wNode = new Int32Array(m);
  for (let j = 0; j < m; j++) {
    const i = index.get(key(wTrees[j], wNodes[j]));
    if (i === undefined) fail(node, `a weight names node ${wNodes[j]} of tree ${wTrees[j]}, which does not exist`);
    if (mode[i] !== TREE_LEAF) fail(node, `a weight is attached to node ${wNodes[j]} of tree ${wTrees[j]}, which is not a leaf`);
    if (!Number.isFinite(wVals[j]))
      throw new ZkinferError(
        'MODEL_BAD_WEIGHTS',
        `${node.opType} "${nodeName(node)}": the weight of leaf ${wNodes[j]} of tree ${wTrees[j]} is ${wVals[j]}`,
        nodeName(node),
      );
    wNode[j] = i;
  }
  return {
    roots: Int32Array.from(roots),
    feature,
    mode,
    threshold,
    trueChild,
    falseChild,
    wNode,
    wId: Int32Array.from(wIds),
    wValue: Float64Array.from(wVals),
  };
}

/**
 * Output ids that some tree scores on every one of its leaves: onnxruntime gives an id no
 * leaf on the input's path scored no value at all (a regressor outputs 0 without its
 * base value; a classifier leaves the class out of the decision unless it has a base
 * value), which is not a sum; an id scored by one whole tree always has a value.
 */
function coveredIds(f: Forest, K: number): boolean[] {
  const n = f.feature.length;
  const has = new Uint8Array(n * K);
  for (let j = 0; j < f.wNode.length; j++) has[f.wNode[j] * K + f.wId[j]] = 1;
  const covered = new Array<boolean>(K).fill(false);
  for (const r of f.roots) {
    const all = new Array<boolean>(K).fill(true);
    const stack = [r];
    while (stack.length) {
      const i = stack.pop()!;
      if (f.mode[i] !== TREE_LEAF) {
        stack.push(f.trueChild[i], f.falseChild[i]);
        continue;
      }
      for (let k = 0; k < K; k++) if (!has[i * K + k]) all[k] = false;
    }
    all.forEach((a, k) => (covered[k] ||= a));
  }
  return covered;
}

/** The layer: `outSize` outputs; column `col(id)` receives `sign * weight` of output id `id`. */
function layerOf(
  node: NodeProto,
  inSize: number,
  f: Forest,
  outSize: number,
  base: Float64Array,
  scale: number,
  columns: (id: number) => [number, number][],
): TreeEnsembleLayer {
  const n = f.feature.length;
  const leafWeights = new Float64Array(n * outSize);
  for (let j = 0; j < f.wNode.length; j++) {
    for (const [col, sign] of columns(f.wId[j])) leafWeights[f.wNode[j] * outSize + col] += sign * f.wValue[j] * scale;
  }
  return {
    kind: 'tree_ensemble',
    name: nodeName(node),
    inSize,
    outSize,
    roots: f.roots,
    feature: f.feature,
    mode: f.mode,
    threshold: f.threshold,
    trueChild: f.trueChild,
    falseChild: f.falseChild,
    leafWeights,
    base,
    nodes: [nodeName(node)],
  };
}

function reserve(L: Lowering, node: NodeProto, inSize: number, outSize: number): void {
  // Parameters: a threshold per node and a weight per node and output (leaves hold them).
  const nodesCount = attribute(node, 'nodes_treeids')?.ints?.length ?? 0;
  L.reserveLayer(node, inSize, outSize, nodesCount * (1 + outSize) + outSize);
}

function featureCount(node: NodeProto, act: Activation): number {
  if (act.shape.slice(0, -1).some((d) => d !== 1)) fail(node, `an activation of shape [${act.shape}]: only one row of features is supported`);
  return act.shape.at(-1) ?? 1;
}

export function lowerTreeRegressor(L: Lowering, node: NodeProto, act: Activation): void {
  const inSize = featureCount(node, act);
  const targets = Number(attribute(node, 'n_targets')?.i ?? 1);
  if (!Number.isInteger(targets) || targets < 1) fail(node, `n_targets ${targets}`);
  reserve(L, node, inSize, targets);
  const f = readForest(L, node, inSize, 'target');
  if (f.wId.some((id) => id < 0 || id >= targets)) fail(node, `a target id is outside 0..${targets - 1}`);
  const base = attrFloatsOrTensor(node, 'base_values', L.limits) ?? new Float64Array(targets);
  if (base.length !== targets) fail(node, `${base.length} base values for ${targets} targets`);
  const covered = coveredIds(f, targets);
  for (let k = 0; k < targets; k++) {
    if (!covered[k] && base[k] !== 0)
      fail(
        node,
        `target ${k} is not scored by every leaf of any tree: where no leaf on the path scores it, onnxruntime outputs 0 ` +
          `instead of its base value ${base[k]}, which is not a sum`,
      );
  }
  const scale = attrString(node, 'aggregate_function', 'SUM') === 'AVERAGE' ? 1 / f.roots.length : 1;
  L.emit(
    node,
    layerOf(node, inSize, f, targets, Float64Array.from(base), scale, (id) => [[id, 1]]),
    [1, targets],
  );
}

export function lowerTreeClassifier(L: Lowering, node: NodeProto, act: Activation): void {
  const inSize = featureCount(node, act);
  if (!node.output?.[1]) fail(node, 'has no scores output: the proof is about the scores and the decision taken from them');
  const labels = attrStrings(node, 'classlabels_strings') ?? attrInts(node, 'classlabels_int64s')?.map(String);
  if (!labels || labels.length < 2) fail(node, 'needs at least two class labels');
  const K = labels.length;
  const post = attrString(node, 'post_transform', 'NONE');
  reserve(L, node, inSize, K);
  const f = readForest(L, node, inSize, 'class');
  if (f.wId.some((id) => id < 0 || id >= K)) fail(node, `a class id is outside 0..${K - 1}`);
  const ids = new Set(f.wId);
  const baseIn = attrFloatsOrTensor(node, 'base_values', L.limits);
  if (K === 2 && ids.size === 1) {
    // onnxruntime's binary case: one score z = base + sum over the class-0 column.
    if (!ids.has(0)) fail(node, 'binary weights on class id 1 only (onnxruntime reads them as a second column without its pair)');
    if (baseIn && baseIn.length !== 1) fail(node, `${baseIn.length} base values for a binary classifier with one score column (only 0 or 1)`);
    const b = baseIn?.[0] ?? 0;
    const positive = f.wValue.every((v) => v >= 0);
    if (positive) {
      // onnxruntime: label z > 0.5, scores (1 - z, z) without a transform.
      if (post !== 'NONE')
        fail(
          node,
          `post_transform ${post} over non-negative binary weights: onnxruntime then decides at score > 0.5 and transforms 1 ` +
            `- z, which is not a ${post.toLowerCase()} model's decision`,
        );
      const layer = layerOf(node, inSize, f, 2, Float64Array.of(1 - b, b), 1, () => [
        [0, -1],
        [1, 1],
      ]);
      L.emit(node, layer, [1, 2], 1);
      endClassifier(L, node, { head: 'argmax', labels, pick: [0, 1], apply: 'argmax' });
      return;
    }
    // onnxruntime: label z > 0, scores (f(-z), f(z)).
    if (post === 'SOFTMAX') fail(node, 'post_transform SOFTMAX over one binary score column');
    L.emit(
      node,
      layerOf(node, inSize, f, 1, Float64Array.of(b), 1, () => [[0, 1]]),
      [1, 1],
      1,
    );
    endClassifier(L, node, { head: 'sigmoid', labels, pick: [1], apply: post === 'NONE' ? 'sigmoid' : 'none' });
    return;
  }
  // A column per class.
  if (K === 2 && baseIn && baseIn.some((v) => v !== 0)) fail(node, 'two score columns with base values (onnxruntime then overwrites column 0 with -column 1)');
  if (baseIn && baseIn.length !== K) fail(node, `${baseIn.length} base values for ${K} classes`);
  const covered = coveredIds(f, K);
  for (let c = 0; c < K; c++)
    if (!covered[c] && !baseIn)
      fail(
        node,
        `class ${labels[c]} is not scored by every leaf of any tree and has no base value: where no leaf on the path ` +
          `scores it, onnxruntime leaves it out of the decision`,
      );
  if (post === 'LOGISTIC') fail(node, `post_transform LOGISTIC over ${K} score columns (one-vs-rest) is not a softmax`);
  L.emit(
    node,
    layerOf(node, inSize, f, K, Float64Array.from(baseIn ?? new Float64Array(K)), 1, (id) => [[id, 1]]),
    [1, K],
    1,
  );
  endClassifier(
    L,
    node,
    post === 'SOFTMAX'
      ? { head: 'softmax', labels, pick: labels.map((_, i) => i), apply: 'none' }
      : { head: 'argmax', labels, pick: labels.map((_, i) => i), apply: 'argmax' },
  );
}

/** The label output (the decision, proven from the scores) and the final head, as for a LinearClassifier. */
function endClassifier(L: Lowering, node: NodeProto, c: { head: Exclude<Head, 'none'>; labels: string[]; pick: number[]; apply: Head }): void {
  classifierEnd(L, node, 1, c);
}

/** The tree ensembles' handlers (ai.onnx.ml, beside ./ml.ts's). */
export const TREE_HANDLERS: Record<string, Handler> = {
  TreeEnsembleClassifier: lowerTreeClassifier,
  TreeEnsembleRegressor: lowerTreeRegressor,
};
