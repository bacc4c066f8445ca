import { ZkinferError } from '../core/errors.ts';
import type { Head, Layer, ModelIR } from './ir.ts';
import { checkLimit, DEFAULT_MODEL_LIMITS, elementCount, type ModelLimits } from './limits.ts';
import { attrInts } from './onnx/attributes.ts';
import type { ModelProto, NodeProto, Tensor } from './onnx/file.ts';
import { type Handler, Lowering, timesOne } from './lowering/context.ts';
import { foldDenseChain } from './lowering/fold.ts';
import { ACTIVATION_HANDLERS } from './lowering/ops/activations.ts';
import { lowerColumnPrefix } from './lowering/ops/column-prefix.ts';
import { lowerCombine, lowerConcat, lowerInputConcat, lowerVariadic, TWO_ACTIVATION_OPS } from './lowering/ops/combine.ts';
import { type ConstOp, constantOps, lowerConstantNode } from './lowering/ops/const.ts';
import { CONV_HANDLERS, convRefusal } from './lowering/ops/conv.ts';
import { lowerOnLabel, lowerProbabilities } from './lowering/ops/labels.ts';
import { elementwise, LINEAR_HANDLERS } from './lowering/ops/linear.ts';
import { ML_ACTIVATION_OPS, ML_HANDLERS, mlOpsNote, mlRefusal } from './lowering/ops/ml.ts';
import { DYNAMIC_QUANTIZATION_OPS, DYNAMIC_REFUSAL, QUANTIZED_ACTIVATION_OPS, QUANTIZED_REFUSAL } from './lowering/ops/quantized.ts';
import { REDUCE_HANDLERS } from './lowering/ops/reduce.ts';
import { SHAPE_HANDLERS, shapeSlice } from './lowering/ops/shape.ts';
import { TREE_HANDLERS, TREE_OPS, treeRefusal } from './lowering/ops/trees.ts';
import { type Activation, type Constant, ML_DOMAIN, nodeName, size } from './lowering/values.ts';

/**
 * Lowers an ONNX graph to the chain-of-layers IR. Every value is either a constant
 * (folded here) or the single activation flowing through the chain; the graph must be
 * a chain (no branches), batch size 1.
 *
 * This file is the dispatcher only: it refuses what cannot be lowered, sends each node to
 * its handler and finishes the model. The state every handler works on is
 * `lowering/context.ts` (the `Lowering` builder; values, broadcasting and rows beside it);
 * the handlers are `lowering/ops/*.ts`, one file per family of ops, each exporting a table
 * merged below. A new op on one activation is an entry in a table (and in ACTIVATION_OPS);
 * handlers import the context and `onnx/attributes.ts`, never this file.
 */

/** Ops that become layers or change only an activation's shape. */
const ACTIVATION_OPS = [
  'Gemm',
  'MatMul',
  'Add',
  'Sub',
  'Mul',
  'Div',
  'BatchNormalization',
  'Relu',
  'LeakyRelu',
  'PRelu',
  'Clip',
  'Sigmoid',
  'Softmax',
  'Flatten',
  'Reshape',
  'Squeeze',
  'Unsqueeze',
  'Identity',
  'Cast',
  'Dropout',
  'Concat',
  'Expand',
  'Tile',
  // Of several activations (and constants): Sum and Mean are linear, Max a pool of one window per element.
  'Sum',
  'Mean',
  'Max',
  // Data movement (a copy layer: no constraint) and reductions (linear).
  'Transpose',
  'Slice',
  'Gather',
  'ReduceSum',
  'ReduceMean',
  'Neg',
  // Of the model's outputs only, as the predicted label (the decision the circuit proves).
  'ArgMax',
  // Convolutions and pooling (src/model/lowering/ops/conv.ts), on NCHW activations.
  'Conv',
  'ConvTranspose',
  'AveragePool',
  'GlobalAveragePool',
  'MaxPool',
  'GlobalMaxPool',
  'Pad',
];

export const SUPPORTED_OPS: string[] = [...new Set([...ACTIVATION_OPS, ...Object.keys(constantOps), 'Constant'])].sort();

/** Default-domain ops accepted on activations (Concat and Shape too, of graph inputs / as constants). */
export const SUPPORTED_ACTIVATION_OPS: string[] = [...ACTIVATION_OPS, 'Shape'].sort();
/** Default-domain ops evaluated at import when all their inputs are constants. */
export const SUPPORTED_CONSTANT_OPS: string[] = [...new Set([...Object.keys(constantOps), 'Constant'])].sort();
/** The supported list as error messages give it: activations, constants, ai.onnx.ml apart. */
export function supportedOpsNote(): string {
  return (
    `supported on activations: ${SUPPORTED_ACTIVATION_OPS.join(', ')} (${TWO_ACTIVATION_OPS.join(', ')} also of two ` +
    `activations); folded on constants only: ${SUPPORTED_CONSTANT_OPS.join(', ')}; ai.onnx.ml: ${mlOpsNote()}`
  );
}

/** The handlers of ops on one activation (and constants), by op type. */
const HANDLERS: Record<string, Handler> = { ...LINEAR_HANDLERS, ...ACTIVATION_HANDLERS, ...SHAPE_HANDLERS, ...REDUCE_HANDLERS, ...CONV_HANDLERS };
/** The handlers of ai.onnx.ml ops (FeatureVectorizer apart: it merges the graph inputs). */
const ML_OP_HANDLERS: Record<string, Handler> = { ...ML_HANDLERS, ...TREE_HANDLERS };

function unsupportedOp(op: string, name: string): ZkinferError {
  return new ZkinferError('MODEL_UNSUPPORTED_OP', `Unsupported ONNX op "${op}" at node "${name}"${whyUnsupported(op)}; ${supportedOpsNote()}`, name);
}

function whyUnsupported(op: string): string {
  return DYNAMIC_QUANTIZATION_OPS.includes(op)
    ? DYNAMIC_REFUSAL
    : QUANTIZED_ACTIVATION_OPS.includes(op)
      ? QUANTIZED_REFUSAL
      : op in constantOps
        ? ' on an activation (it is supported only on constants: weights and shapes folded at import)'
        : '';
}

/**
 * Every node whose op (or, for ai.onnx.ml, op and attributes) cannot be lowered,
 * found before lowering starts so that one error names them all. Which values derive
 * from the graph inputs is followed through the graph: an op supported only on
 * constants is refused where it reads an activation.
 */
function refuseUnsupported(nodes: NodeProto[], inputs: string[]): void {
  const live = new Set(inputs);
  const found: { op: string; node: string; why: string }[] = [];
  for (const node of nodes) {
    const op = node.opType ?? '';
    const name = nodeName(node);
    const onAct = (node.input ?? []).some((i) => live.has(i));
    const domain = node.domain ?? '';
    if (domain === ML_DOMAIN) {
      const why = TREE_OPS.includes(op) ? treeRefusal(node) : mlRefusal(node);
      if (why) found.push({ op: `${ML_DOMAIN}.${op}`, node: name, why: ` (${why})` });
    } else if (domain !== '' && domain !== 'ai.onnx') {
      found.push({ op: `${domain}.${op}`, node: name, why: '' });
    } else if (op === 'Constant') {
      continue;
    } else if (onAct ? !ACTIVATION_OPS.includes(op) && op !== 'Shape' && op !== 'Gather' : !(op in constantOps)) {
      found.push({ op, node: name, why: whyUnsupported(op) });
    } else if ((node.input ?? []).filter((i) => live.has(i)).length > 1 && !TWO_ACTIVATION_OPS.includes(op)) {
      found.push({
        op,
        node: name,
        why: ` (of two activations: ${TWO_ACTIVATION_OPS.join(', ')} of two activations are supported, other ops only with constant operands)`,
      });
    } else if (onAct && op in CONV_HANDLERS) {
      const why = convRefusal(node);
      if (why) found.push({ op, node: name, why: ` (${why})` });
    }
    // Shape of an activation is known at import time: a constant.
    if (onAct && op !== 'Shape') for (const o of node.output ?? []) live.add(o);
  }
  if (found.length === 0) return;
  if (found.length === 1) {
    const f = found[0];
    throw new ZkinferError('MODEL_UNSUPPORTED_OP', `Unsupported ONNX op "${f.op}" at node "${f.node}"${f.why}; ${supportedOpsNote()}`, f.node);
  }
  const list = found.map((f) => `"${f.op}" at node "${f.node}"${f.why}`).join('; ');
  throw new ZkinferError('MODEL_UNSUPPORTED_OP', `Unsupported ONNX ops at ${found.length} nodes: ${list}. ${supportedOpsNote()}`, found[0].node);
}

/**
 * Lowers one node. Any failure that is not already a typed error (a malformed node
 * missing an input or attribute) becomes MODEL_UNSUPPORTED_GRAPH naming the node,
 * never a bare TypeError.
 */
function lowerNode(L: Lowering, node: NodeProto): void {
  try {
    lowerNodeUnchecked(L, node);
  } catch (e) {
    if (e instanceof ZkinferError) throw e;
    const name = nodeName(node);
    throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `node "${name}" (${node.opType}) could not be lowered: ${(e as Error).message}`, name, { cause: e });
  }
}

function lowerNodeUnchecked(L: Lowering, node: NodeProto): void {
  const op = node.opType ?? '';
  const name = nodeName(node);
  if (lowerOnLabel(L, node)) return;
  // Reads counted down first: `emit` carries only what later nodes still read.
  L.consume(node.input ?? []);
  if (lowerProbabilities(L, node)) return;
  if (node.domain === ML_DOMAIN) {
    if (!ML_ACTIVATION_OPS.includes(op)) throw unsupportedOp(`${node.domain}.${op}`, name);
    const ins = (node.input ?? []).map((_, i) => L.get(node, i));
    if (op === 'FeatureVectorizer') {
      if (!lowerInputConcat(L, node, ins, attrInts(node, 'inputdimensions'))) {
        throw new ZkinferError(
          'MODEL_UNSUPPORTED_GRAPH',
          `FeatureVectorizer "${name}" is supported only for all graph inputs, in order, each at its full width, and read by nothing else`,
          name,
        );
      }
      return;
    }
    const act = ins[0];
    if (act?.kind !== 'act') throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `${op} "${name}" must read the activation (its first input is constant)`, name);
    ML_OP_HANDLERS[op](L, node, L.activation(node, act), ins);
    return;
  }
  if (node.domain && node.domain !== 'ai.onnx' && node.domain !== '') {
    throw unsupportedOp(`${node.domain}.${op}`, name);
  }
  if (op === 'Constant') {
    lowerConstantNode(L, node);
    return;
  }
  const ins = (node.input ?? []).map((_, i) => L.get(node, i));
  const acts = ins.filter((v): v is Activation => v?.kind === 'act');

  if (acts.length === 0) {
    // Everything constant: fold.
    const fold: ConstOp | undefined = constantOps[op];
    if (!fold) throw unsupportedOp(op, name);
    const outs = fold(
      node,
      ins.map((v) => (v as Constant | undefined)?.t),
      L.opset,
      L,
    );
    outs.forEach((t, i) => L.values.set(node.output![i], { kind: 'const', t }));
    return;
  }
  if (op === 'Concat') {
    if (!lowerInputConcat(L, node, ins)) lowerConcat(L, node, ins);
    return;
  }
  if (op === 'Sum' || op === 'Mean' || op === 'Max') {
    lowerVariadic(L, node, op, ins);
    return;
  }
  if (op === 'Shape') {
    // The shape of an activation is known at import time (batch 1): a constant.
    const dims = shapeSlice(node, acts[0].shape);
    L.values.set(node.output![0], { kind: 'const', t: { data: Float64Array.from(dims), shape: [dims.length] } });
    return;
  }
  if (!ACTIVATION_OPS.includes(op)) throw unsupportedOp(op, name);
  if (acts.length > 1) {
    if (op === 'Add' || op === 'Sub' || op === 'Mul') {
      lowerCombine(L, node, op, acts[0], acts[1]);
      return;
    }
    throw new ZkinferError(
      'MODEL_UNSUPPORTED_GRAPH',
      `node "${name}" (${op}) reads two activations: of the ops on two activations, Add, Sub, Mul and Concat are supported`,
      name,
    );
  }
  if (timesOne(L, node)) {
    L.reshapeAct(node, L.activation(node, acts[0]).shape);
    return;
  }
  const act = L.activation(node, acts[0]);
  if (['Add', 'Sub', 'Mul', 'Div'].includes(op)) {
    const constFirst = ins[0]?.kind === 'const';
    const c = (constFirst ? ins[0] : ins[1]) as Constant;
    elementwise(L, node, act, c.t, op, constFirst);
    return;
  }
  HANDLERS[op](L, node, act, ins.slice(1));
}

/**
 * Weights from Constant nodes or folded arithmetic escape the initializer check:
 * check what the circuit will get.
 */
function checkFinite(layer: Layer): void {
  const arrays =
    layer.kind === 'dense'
      ? [layer.weights, layer.bias]
      : layer.kind === 'sparse'
        ? [layer.vals, layer.bias]
        : layer.kind === 'leaky_relu'
          ? [layer.alpha]
          : layer.kind === 'tree_ensemble'
            ? [layer.leafWeights, layer.base, layer.threshold]
            : [];
  if (arrays.some((a) => a.some((v) => !Number.isFinite(v)))) {
    throw new ZkinferError('MODEL_BAD_WEIGHTS', `layer "${layer.name}" (ONNX nodes ${layer.nodes.join(', ')}) has NaN or infinite weights`, layer.name);
  }
  if (layer.kind === 'clip' && (Number.isNaN(layer.min) || Number.isNaN(layer.max) || layer.min > layer.max)) {
    throw new ZkinferError('MODEL_BAD_WEIGHTS', `Clip "${layer.name}" has bounds [${layer.min}, ${layer.max}]`, layer.name);
  }
}

/** onnx.TensorProto.DataType.STRING */
const STRING_TYPE = 8;

function dimsOf(vi: {
  type?: { tensorType?: { shape?: { dim?: { dimValue?: unknown; dimParam?: string | null }[] | null } | null } | null } | null;
}): (number | null)[] {
  return (vi.type?.tensorType?.shape?.dim ?? []).map((d) =>
    d.dimValue !== undefined && d.dimValue !== null && String(d.dimValue) !== '0' ? Number(String(d.dimValue)) : null,
  );
}

/**
 * Lowers a decoded model; `initializers` are its decoded constant tensors. Every
 * allocation a node implies (a folded constant, a layer's weights) is checked against
 * `limits` first.
 */
export function lowerModel(model: ModelProto, initializers: Map<string, Tensor>, limits: ModelLimits = DEFAULT_MODEL_LIMITS): ModelIR {
  const graph = model.graph!;
  const opset = Number((model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? 13);
  const L = new Lowering(opset, limits);
  for (const [name, t] of initializers) {
    L.holdConstant(t.data.length, name);
    if (!t.strings && t.data.some((v) => !Number.isFinite(v)))
      throw new ZkinferError('MODEL_BAD_WEIGHTS', `initializer "${name}" contains NaN or Infinity`, name);
    L.values.set(name, { kind: 'const', t });
  }
  const graphInputs = (graph.input ?? []).filter((i) => !initializers.has(i.name ?? ''));
  L.countUses(
    graph.node ?? [],
    (graph.output ?? []).map((o) => o.name ?? ''),
  );
  L.graphNodes = graph.node ?? [];
  if (graphInputs.length === 0) throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', 'the graph has no inputs', 'model');
  let offset = 0;
  let batched = true;
  graphInputs.forEach((gi, index) => {
    const dims = dimsOf(gi);
    // The first dimension is the batch when it is symbolic, unknown or 1; an input whose
    // first dimension is a fixed size has no batch dimension (all of it is features).
    const hasBatch = dims.length > 0 && (dims[0] === null || dims[0] === 1);
    const feat = hasBatch ? dims.slice(1) : dims;
    if (feat.some((d) => d === null) || dims.length === 0) {
      throw new ZkinferError(
        'MODEL_UNSUPPORTED_GRAPH',
        `graph input "${gi.name}" has an unknown feature dimension [${dims.map((d) => d ?? '?')}]`,
        gi.name ?? undefined,
      );
    }
    const shape = feat as number[];
    const n = elementCount(shape, gi.name ?? `input${index}`);
    checkLimit(
      limits,
      'maxLayerWidth',
      offset + n,
      `the input width (features of ${index === 0 ? `input ${gi.name}` : `inputs up to and including ${gi.name}`})`,
      gi.name ?? undefined,
    );
    L.inputs.push({ name: gi.name ?? `input${index}`, shape, size: n, offset, ...(hasBatch ? {} : { batched: false }) });
    if (gi.type?.tensorType?.elemType === STRING_TYPE) L.stringInputs.add(gi.name ?? '');
    if (!hasBatch) batched = false;
    offset += n;
    const actShape = hasBatch ? [1, ...shape] : shape;
    L.bind(gi.name ?? '', actShape, index, graphInputs.length > 1 ? { inputIndex: index } : {});
  });
  // Each input is a slot of the vector, in order: the flat input layout.
  L.layout = L.inputs.map((inp, id) => ({ id, size: inp.size }));
  L.nextSlot = L.inputs.length;
  if (L.inputs.length === 1) L.merged = true;

  refuseUnsupported(
    graph.node ?? [],
    [...L.values.entries()].filter(([, v]) => v.kind === 'act').map(([k]) => k),
  );
  const prefix = lowerColumnPrefix(
    L,
    graph.node ?? [],
    (graph.output ?? []).map((o) => o.name ?? ''),
  );
  for (const node of graph.node ?? []) if (prefix.has(nodeName(node))) L.consume(node.input ?? []);
  for (const node of graph.node ?? []) if (!prefix.has(nodeName(node))) lowerNode(L, node);
  // Categorical columns widened the flat vector (one feature per category).
  offset = L.inputs.reduce((a, i) => a + i.size, 0);

  // One output is the end of the chain; a classifier's label may sit beside it.
  const outputs = (graph.output ?? []).map((o) => o.name ?? '');
  const labelOutputs = outputs.filter((n) => L.values.get(n)?.kind === 'label');
  const chainOutputs = outputs.filter((n) => !labelOutputs.includes(n));
  if (chainOutputs.length !== 1) {
    throw new ZkinferError(
      'MODEL_UNSUPPORTED_GRAPH',
      `the graph has ${chainOutputs.length} outputs besides a classifier's label (${chainOutputs.join(', ') || 'none'}); exactly one is supported`,
      'model',
    );
  }
  const outName = chainOutputs[0];
  const out = L.values.get(outName);
  if (!out || out.kind !== 'act' || !L.layout.some((s) => s.id === out.slot)) {
    throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `graph output "${outName}" is not computed from the graph inputs`, outName);
  }
  if (L.labelSource && L.labelSource.slot !== out.slot) {
    throw new ZkinferError(
      'MODEL_UNSUPPORTED_GRAPH',
      `ArgMax "${L.labelSource.node}" is not of the graph output "${outName}": a label is supported only as the argmax of the model's outputs`,
      L.labelSource.node,
    );
  }
  if (L.layout.length > 1) {
    // Values nothing read any more (read only by Shape, say) are dropped.
    L.relayout(
      { name: `${outName}/output`, opType: 'Identity' } as NodeProto,
      L.layout.filter((s) => s.id === out.slot),
      null,
      0,
      [`${outName}/output`],
    );
  }
  const cls = L.classifier;
  // A ZipMap's output is fetched from onnxruntime as the tensor it reads.
  let fetch = outName;
  while (L.zipMaps.has(fetch)) fetch = L.zipMaps.get(fetch)!;
  const zipMap = fetch !== outName ? outName : undefined;
  const onnxOutput = cls
    ? { name: fetch, pick: cls.pick, apply: cls.apply, ...(zipMap ? { zipMap } : {}) }
    : zipMap
      ? { name: fetch, pick: Array.from({ length: size(out.shape) }, (_, i) => i), apply: 'none' as Head, zipMap }
      : undefined;
  const head: Head = L.pendingHead?.op ?? (L.argmaxLabel ? 'argmax' : 'none');
  const labels = cls?.labels.length ? cls.labels : (L.classLabels ?? undefined);
  const layers = foldDenseChain(L.layers, limits);
  for (const layer of layers) checkFinite(layer);
  return {
    inputs: L.inputs,
    inputSize: offset,
    layers,
    // Batch 1: every dimension left, even one a Reshape moved to the front, is output.
    outputSize: size(out.shape),
    head,
    outputName: outName,
    outputShape: batched && out.shape[0] === 1 ? out.shape.slice(1) : out.shape,
    opset,
    ...(labels?.length ? { labels } : {}),
    ...(onnxOutput ? { onnxOutput } : {}),
    ...(labelOutputs.length ? { labelOutputs } : {}),
  };
}
