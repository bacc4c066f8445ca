import { ZkinferError } from '../../../core/errors.ts';
import { attrInt } from '../../onnx/attributes.ts';
import type { NodeProto } from '../../onnx/file.ts';
import type { Lowering } from '../context.ts';
import { type Activation, ML_DOMAIN, nodeName, type Value } from '../values.ts';

/**
 * A classifier's outputs after its scores: the predicted label (ArgMax, or a class picked
 * by it) and skl2onnx's two columns (1 - p, p) of a binary model's probability.
 */

/**
 * A node reading a classifier's label. It may be renamed, reshaped or cast on its way to a
 * graph output, or name a class (skl2onnx: ArrayFeatureExtractor(classes, argmax)), no
 * more. True when the node read a label (and was lowered).
 */
export function lowerOnLabel(L: Lowering, node: NodeProto): boolean {
  const op = node.opType ?? '';
  const name = nodeName(node);
  const labelIn = (node.input ?? []).some((i) => L.values.get(i)?.kind === 'label');
  if (!labelIn) return false;
  const plain =
    (node.domain ?? '') === '' &&
    ['Identity', 'Cast', 'Reshape', 'Squeeze', 'Unsqueeze', 'Flatten'].includes(op) &&
    L.values.get(node.input![0])?.kind === 'label';
  const classes = L.values.get(node.input![0] ?? '');
  const picked =
    node.domain === ML_DOMAIN && op === 'ArrayFeatureExtractor' && classes?.kind === 'const' && L.values.get(node.input![1] ?? '')?.kind === 'label';
  if (plain || picked) {
    if (picked && classes?.kind === 'const') L.classLabels = classes.t.strings ?? Array.from(classes.t.data, (v) => String(v));
    L.values.set(node.output![0], { kind: 'label' });
    return true;
  }
  throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `node "${name}" (${op}) computes on a classifier's label: only the label itself may be an output`, name);
}

/**
 * What follows a classifier's output activation as skl2onnx writes an MLPClassifier:
 * `Sub(1, p)` and `Concat(1 - p, p)` after a binary model's Sigmoid (the two columns of
 * probabilities, the IR keeping the one logit and its sigmoid head), and `ArgMax` of the
 * probabilities (or of the outputs) as the predicted label. True when the node was one.
 */
export function lowerProbabilities(L: Lowering, node: NodeProto): boolean {
  const op = node.opType ?? '';
  const name = nodeName(node);
  const ins = (node.input ?? []).map((i) => (i ? L.values.get(i) : undefined));
  const h = L.pendingHead;
  const isEnd = (v: Value | undefined): v is Activation => v?.kind === 'act' && L.layout.length === 1 && L.layout[0].id === v.slot;
  if ((node.domain ?? '') !== '' && ins.some((v) => v?.kind === 'complement')) {
    throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `node "${name}" (${op}) reads 1 - p of a binary classifier: only Concat(1 - p, p) may`, name);
  }
  if ((node.domain ?? '') !== '') return false;
  const [a, b] = ins;
  const concatOfBoth = () =>
    L.graphNodes.some(
      (n) => n.opType === 'Concat' && (n.domain ?? '') === '' && n.input?.length === 2 && n.input[0] === node.output?.[0] && n.input[1] === node.input?.[1],
    );
  if (
    op === 'Sub' &&
    a?.kind === 'const' &&
    a.t.data.length === 1 &&
    a.t.data[0] === 1 &&
    isEnd(b) &&
    h?.op === 'sigmoid' &&
    !h.final &&
    h.size === 1 &&
    concatOfBoth()
  ) {
    L.values.set(node.output![0], { kind: 'complement', of: node.input![1] });
    return true;
  }
  if (op === 'Concat' && a?.kind === 'complement') {
    const axis = attrInt(node, 'axis', 0);
    if (ins.length !== 2 || a.of !== node.input![1] || !isEnd(b) || !h || (axis !== 1 && axis !== -1)) {
      throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `Concat "${name}" of 1 - p is supported only as Concat(1 - p, p) along the last axis`, name);
    }
    L.classifier = { node: h.node, head: 'sigmoid', labels: [], pick: [1], apply: 'none', scores: node.output![0] };
    L.pendingHead = { ...h, final: true };
    L.consuming = L.bind(node.output![0], b.shape, b.slot);
    return true;
  }
  if (ins.some((v) => v?.kind === 'complement')) {
    throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `node "${name}" (${op}) reads 1 - p of a binary classifier: only Concat(1 - p, p) may`, name);
  }
  if (op === 'ArgMax') {
    const axis = attrInt(node, 'axis', 0);
    const rank = a?.kind === 'act' ? a.shape.length : 0;
    const ax = axis < 0 ? axis + rank : axis;
    if (!isEnd(a) || a.shape.some((d, i) => i !== ax && d !== 1) || attrInt(node, 'select_last_index', 0) !== 0) {
      throw new ZkinferError(
        'MODEL_UNSUPPORTED_GRAPH',
        `ArgMax "${name}" is supported only over the model's output vector (its predicted label, the first maximum)`,
        name,
      );
    }
    if (h && h.op === 'sigmoid' && !h.final) {
      throw new ZkinferError(
        'MODEL_UNSUPPORTED_GRAPH',
        `ArgMax "${name}" over a Sigmoid's outputs is not a decision zkinfer proves (it proves p >= 0.5 per output, or the argmax of a Softmax)`,
        name,
      );
    }
    if (!h) L.argmaxLabel = true;
    L.labelSource = { node: name, slot: a.slot };
    L.values.set(node.output![0], { kind: 'label' });
    return true;
  }
  return false;
}
