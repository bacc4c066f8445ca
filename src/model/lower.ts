import { ZkinferError } from '../errors.ts';
import type { Head, IrInput, Layer, ModelIR, SparseLayer } from './ir.ts';
import { constantOps, type ConstOp, type FoldContext } from './const-ops.ts';
import { attributeTensor, type AttributeProto, type ModelProto, type NodeProto, type Tensor } from './onnx-file.ts';
import { type DiagLayer, foldDenseChain, foldInto, layerParameters } from './fold.ts';
import { CONV_HANDLERS, convRefusal } from './conv.ts';
import { checkLimit, DEFAULT_MODEL_LIMITS, elementCount, type ModelLimits } from './limits.ts';
import { lowerColumnPrefix } from './column-prefix.ts';
import { ML_ACTIVATION_OPS, ML_DOMAIN, ML_HANDLERS, mlOpsNote, mlRefusal } from './ml-ops.ts';

/**
 * Lowers an ONNX graph to the chain-of-layers IR. Every value is either a constant
 * (folded here) or the single activation flowing through the chain; the graph must be
 * a chain (no branches), batch size 1.
 */

/** Ops that become layers or change only an activation's shape. */
const ACTIVATION_OPS = [
  'Gemm', 'MatMul', 'Add', 'Sub', 'Mul', 'Div', 'BatchNormalization', 'Relu', 'LeakyRelu', 'PRelu', 'Clip',
  'Sigmoid', 'Softmax', 'Flatten', 'Reshape', 'Squeeze', 'Unsqueeze', 'Identity', 'Cast', 'Dropout', 'Concat', 'Expand', 'Tile',
  // Of several activations (and constants): Sum and Mean are linear, Max a pool of one window per element.
  'Sum', 'Mean', 'Max',
  // Data movement (a copy layer: no constraint) and reductions (linear).
  'Transpose', 'Slice', 'Gather', 'ReduceSum', 'ReduceMean', 'Neg',
  // Of the model's outputs only, as the predicted label (the decision the circuit proves).
  'ArgMax',
  // Convolutions and pooling (src/model/conv.ts), on NCHW activations.
  'Conv', 'ConvTranspose', 'AveragePool', 'GlobalAveragePool', 'MaxPool', 'GlobalMaxPool', 'Pad',
];

/** Ops that may read two activations (a graph that is a DAG): the rest take constants beside one activation. */
const TWO_ACTIVATION_OPS = ['Add', 'Sub', 'Mul', 'Concat', 'Sum', 'Mean', 'Max'];

export const SUPPORTED_OPS: string[] = [...new Set([...ACTIVATION_OPS, ...Object.keys(constantOps), 'Constant'])].sort();

/** Default-domain ops accepted on activations (Concat and Shape too, of graph inputs / as constants). */
export const SUPPORTED_ACTIVATION_OPS: string[] = [...ACTIVATION_OPS, 'Shape'].sort();
/** Default-domain ops evaluated at import when all their inputs are constants. */
export const SUPPORTED_CONSTANT_OPS: string[] = [...new Set([...Object.keys(constantOps), 'Constant'])].sort();
/** The supported list as error messages give it: activations, constants, ai.onnx.ml apart. */
export function supportedOpsNote(): string {
  return `supported on activations: ${SUPPORTED_ACTIVATION_OPS.join(', ')} (${TWO_ACTIVATION_OPS.join(', ')} also of two activations); folded on constants only: ${SUPPORTED_CONSTANT_OPS.join(', ')}; ai.onnx.ml: ${mlOpsNote()}`;
}

export interface Activation {
  kind: 'act';
  /** Full shape, batch dimension (1) first. */
  shape: number[];
  /** The layer count (`Lowering.version`) when this value was made. */
  version: number;
  /** The slot of the current vector that holds it (values a shape op renames share one). */
  slot: number;
  /** Set for each graph input of a model with several (their Concat in order is the flat input vector as it is). */
  inputIndex?: number;
}
interface Constant {
  kind: 'const';
  t: Tensor;
}
/** A classifier's predicted label (ai.onnx.ml): the decision the circuit proves from the scores. */
interface Label {
  kind: 'label';
}
/**
 * `1 - p` of a binary classifier's probability p (skl2onnx's MLPClassifier writes its two
 * columns as Concat(1 - p, p)): only that Concat may read it.
 */
interface Complement {
  kind: 'complement';
  of: string;
}
export type Value = Activation | Constant | Label | Complement;

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

function attr(node: NodeProto, name: string): AttributeProto | undefined {
  return (node.attribute ?? []).find((a) => a.name === name);
}
export function attrInt(node: NodeProto, name: string, dflt: number): number {
  const a = attr(node, name);
  return a?.i !== undefined && a.i !== null ? Number(String(a.i)) : dflt;
}
export function attrFloat(node: NodeProto, name: string, dflt: number): number {
  const a = attr(node, name);
  return a && (a.type === 1 || a.f) ? (a.f ?? dflt) : dflt;
}
export function attrInts(node: NodeProto, name: string): number[] | undefined {
  const a = attr(node, name);
  return a?.ints && a.ints.length > 0 ? a.ints.map((v) => Number(String(v))) : undefined;
}
export function attrTensor(node: NodeProto, name: string, limits: ModelLimits = DEFAULT_MODEL_LIMITS): Tensor | undefined {
  const a = attr(node, name);
  return a?.t ? attributeTensor(a.t, limits) : undefined;
}

/** Broadcasts a constant to an activation's full shape (numpy rules), flattened row-major. */
export function broadcastTo(t: Tensor, shape: number[], where: string): Float64Array {
  const rank = shape.length;
  const ts = [...Array(Math.max(0, rank - t.shape.length)).fill(1), ...t.shape];
  if (ts.length > rank || ts.some((d, i) => d !== 1 && d !== shape[i])) {
    throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `${where}: a constant of shape [${t.shape}] does not broadcast to the activation shape [${shape}]`, where);
  }
  const out = new Float64Array(size(shape));
  const strides = ts.map((_, i) => ts.slice(i + 1).reduce((a, b) => a * b, 1));
  for (let k = 0; k < out.length; k++) {
    let rem = k;
    let src = 0;
    for (let i = rank - 1; i >= 0; i--) {
      const idx = rem % shape[i];
      rem = Math.floor(rem / shape[i]);
      if (ts[i] !== 1) src += idx * strides[i];
    }
    out[k] = t.data[src];
  }
  return out;
}

export class Lowering implements FoldContext {
  readonly values = new Map<string, Value>();
  /** Layers in order; elementwise ones stay diagonal until `foldDenseChain`. */
  readonly layers: (Layer | DiagLayer)[] = [];
  version = 0;
  /** Elements of every constant held (stored and folded), against maxConstantElements. */
  constantElements = 0;
  /** Parameters held by the layers so far (adjacent linear layers folded as they come). */
  parameters = 0;
  inputs: IrInput[] = [];
  /** A Sigmoid/Softmax not yet consumed: the head if nothing but shape ops follow it. */
  pendingHead: { op: Exclude<Head, 'none'>; node: string; size: number; final?: boolean } | null = null;
  merged = false;
  /** The ai.onnx.ml classifier whose scores end the chain, if any. */
  classifier: { node: string; head: Exclude<Head, 'none'>; labels: string[]; pick: number[]; apply: Head; scores: string } | null = null;
  /** Class labels a label output picks from (skl2onnx: ArrayFeatureExtractor(classes, ArgMax(probabilities))). */
  classLabels: string[] | null = null;
  /** An ArgMax of the outputs with no Sigmoid or Softmax before it: the decision is the argmax head. */
  argmaxLabel = false;
  /** The ArgMax (node, slot it read) whose label must be of the graph's output. */
  labelSource: { node: string; slot: number } | null = null;
  /** The graph's nodes (to look ahead at what reads a value). */
  graphNodes: NodeProto[] = [];
  /** Version of an activation whose columns sum to exactly 1 (a binary logistic classifier's). */
  sumsToOne = -1;
  /** Graph inputs of element type STRING (only encoders may read them). */
  readonly stringInputs = new Set<string>();
  /** ZipMap output -> its input (onnxruntime-node cannot return a ZipMap's maps). */
  readonly zipMaps = new Map<string, string>();
  /**
   * Reads of each value by nodes not yet lowered (a graph output counts one more): a
   * value still to be read is carried in the vector beside the branch being computed.
   */
  readonly uses = new Map<string, number>();
  /** The current vector: the activations it holds, in order, each a slot of `size` scalars. */
  layout: { id: number; size: number }[] = [];
  /** Reads still to come of each slot (of all the names it goes by). */
  readonly slotUses = new Map<number, number>();
  nextSlot = 1;
  /** The activation the node being lowered reads (set by `activation`). */
  consuming: Activation | null = null;

  constructor(
    readonly opset: number,
    readonly limits: ModelLimits,
  ) {}

  /** A new constant's storage, after its size is checked (FoldContext). */
  alloc(shape: number[], node: NodeProto): Float64Array {
    const where = nodeName(node);
    const n = elementCount(shape, where);
    checkLimit(this.limits, 'maxTensorElements', n, `the element count of the constant [${shape.slice(0, 8).join(',')}${shape.length > 8 ? ',...' : ''}] that ${node.opType} would compute`, where);
    this.holdConstant(n, where);
    return new Float64Array(n);
  }

  holdConstant(n: number, where: string): void {
    this.constantElements += n;
    checkLimit(this.limits, 'maxConstantElements', this.constantElements, 'the element count of all constants held, up to and including this one', where);
  }

  /**
   * Checks a layer's widths and the parameters it adds (weights, or a sparse layer's
   * nonzeros) before they are built. The layers so far are held folded (a Conv and the
   * AveragePool after it are one map), and a new layer may fold into the last one, so
   * while lowering they may hold up to twice maxParameters; the folded chain is held to
   * maxParameters itself (`foldDenseChain`).
   */
  reserveLayer(node: NodeProto, inSize: number, outSize: number, params: number): void {
    const where = nodeName(node);
    checkLimit(this.limits, 'maxLayerWidth', Math.max(inSize, outSize), `the width of ${node.opType} layer (${inSize} in, ${outSize} out)`, where);
    this.parameters = this.layers.reduce((a, l) => a + layerParameters(l), 0) + params;
    checkLimit(
      { ...this.limits, maxParameters: 2 * this.limits.maxParameters },
      'maxParameters',
      this.parameters,
      `the parameter count of the layers up to and including this one (held while lowering, before adjacent linear layers fold: up to twice the limit of ${this.limits.maxParameters.toLocaleString('en-US')} for the folded model)`,
      where,
    );
  }

  get(node: NodeProto, i: number): Value | undefined {
    const name = node.input?.[i];
    if (!name) return undefined;
    const v = this.values.get(name);
    if (!v) throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `node "${node.name}" (${node.opType}) reads "${name}", which nothing produces`, node.name ?? undefined);
    return v;
  }

  constant(node: NodeProto, i: number, what: string): Tensor | undefined {
    const v = this.get(node, i);
    if (!v) return undefined;
    if (v.kind !== 'const') throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `node "${node.name}" (${node.opType}): ${what} must be a constant`, node.name ?? undefined);
    return v.t;
  }

  /** Like `constant`, for an input the op cannot do without (a malformed node must not crash). */
  required(node: NodeProto, i: number, what: string): Tensor {
    const t = this.constant(node, i, what);
    if (!t) throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `node "${node.name}" (${node.opType}) is missing ${what}`, node.name ?? undefined);
    return t;
  }

  /** An activation the node reads: it must be in the current vector; it becomes the one `emit` consumes. */
  activation(node: NodeProto, v: Activation): Activation {
    if (!this.layout.some((s) => s.id === v.slot)) {
      throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `node "${node.name}" (${node.opType}) reads an activation that is no longer available (a graph input read again after its columns were encoded)`, node.name ?? undefined);
    }
    this.settleHead(node);
    this.consuming = v;
    return v;
  }

  /** Counts the reads of each value by `nodes` and the graph outputs (before any value is bound). */
  countUses(nodes: NodeProto[], outputs: string[]): void {
    for (const n of nodes) for (const i of n.input ?? []) if (i) this.uses.set(i, (this.uses.get(i) ?? 0) + 1);
    for (const o of outputs) this.uses.set(o, (this.uses.get(o) ?? 0) + 1);
  }

  /** Names `name` as the activation in `slot`; the slot is then needed for the reads of `name` to come. */
  bind(name: string, shape: number[], slot: number, extra: Partial<Activation> = {}): Activation {
    const v: Activation = { kind: 'act', shape, version: this.version, slot, ...extra };
    this.values.set(name, v);
    this.slotUses.set(slot, (this.slotUses.get(slot) ?? 0) + (this.uses.get(name) ?? 0));
    return v;
  }

  /** A node reads the values `names` (each read once per occurrence): fewer reads remain. */
  consume(names: string[]): void {
    for (const name of names) {
      const v = this.values.get(name);
      if (!name || v?.kind !== 'act') continue;
      this.uses.set(name, (this.uses.get(name) ?? 1) - 1);
      this.slotUses.set(v.slot, (this.slotUses.get(v.slot) ?? 1) - 1);
    }
  }

  /** Whether a slot will be read again. */
  needed(id: number): boolean {
    return (this.slotUses.get(id) ?? 0) > 0;
  }

  width(): number {
    return this.layout.reduce((a, s) => a + s.size, 0);
  }

  offsetOf(id: number): number {
    let off = 0;
    for (const s of this.layout) {
      if (s.id === id) return off;
      off += s.size;
    }
    throw new Error(`slot ${id} is not in the current vector`);
  }

  /** The vector is `act` alone, and nothing reads `act` after this node: the plain chain case. */
  whole(act: Activation): boolean {
    return this.layout.length === 1 && this.layout[0].id === act.slot && !this.needed(act.slot);
  }

  /** The whole vector becomes one new activation `name` (the inputs, after their columns are encoded). */
  resetWhole(name: string, shape: number[]): Activation {
    const id = this.nextSlot++;
    this.layout = [{ id, size: size(shape) }];
    return this.bind(name, shape, id);
  }

  /** A Sigmoid followed by more computation is an inner sigmoid; a Softmax cannot be. */
  settleHead(node: NodeProto): void {
    const h = this.pendingHead;
    if (!h) return;
    const shapeOnly = ['Flatten', 'Reshape', 'Squeeze', 'Unsqueeze', 'Identity', 'Cast', 'Dropout'].includes(node.opType ?? '') || timesOne(this, node);
    if (shapeOnly) return;
    if (node.domain === ML_DOMAIN && (node.opType === 'ZipMap' || (h.final && node.opType === 'Normalizer'))) return;
    if (h.final) {
      throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `classifier "${h.node}" is followed by "${node.name}" (${node.opType}): a classifier's scores are supported only as the output`, h.node);
    }
    if (h.op === 'softmax') {
      throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `Softmax "${h.node}" is followed by "${node.name}" (${node.opType}): Softmax is supported only as the last op`, h.node);
    }
    this.pushLayer({ kind: 'sigmoid', name: h.node, size: h.size, nodes: [h.node] });
    this.pendingHead = null;
  }

  /**
   * Appends a layer computing output `out` of the node from the activation it consumes.
   * When other activations are carried in the vector (or the consumed one is read again
   * later), the layer is embedded: see `embed`.
   */
  emit(node: NodeProto, layer: Layer | DiagLayer, shape: number[], out = 0): void {
    const c = this.consuming;
    if (!c || this.whole(c)) {
      this.pushLayer(layer);
      this.setAct(node, shape, out);
      return;
    }
    embed(this, node, layer, c, shape, out);
  }

  /**
   * Appends a layer, folding linear layers as they come. A max pool right after a ReLU
   * or a Clip is moved before it (both are nondecreasing, so max and they commute,
   * exactly, in integers too): the activation then runs on the pooled values only, and
   * the max runs on the accumulators of the linear layer before (see the circuit).
   */
  pushLayer(layer: Layer | DiagLayer, embedded = false): void {
    const prev = this.layers.at(-1);
    if (!embedded && layer.kind === 'maxpool' && (prev?.kind === 'relu' || prev?.kind === 'clip') && !prev.span) {
      this.layers.pop();
      this.pushLayer(layer);
      this.layers.push({ ...prev, size: layer.outSize, nodes: [...prev.nodes] });
      return;
    }
    foldInto(this.layers, layer);
  }

  /** Output `out` of the node is the new activation, the whole vector. */
  setAct(node: NodeProto, shape: number[], out = 0): void {
    this.version++;
    this.consuming = this.resetWhole(node.output![out], shape);
  }

  /** Output shares the consumed activation's slot (shape change only). */
  reshapeAct(node: NodeProto, shape: number[]): void {
    const c = this.consuming;
    if (!c) throw new Error('reshapeAct without an activation');
    this.bind(node.output![0], shape, c.slot);
  }

  /**
   * Replaces the vector by `rows` (a sparse layer over it: copies of the slots in
   * `keep`, then `extra` rows, if any, as one new slot of `extraSize`); returns the new
   * slot's id (or -1 when there are no extra rows). A copy row costs no constraint
   * (see src/circuit/generate.ts), so carrying a value is free.
   */
  relayout(node: NodeProto, keep: { id: number; size: number }[], extra: ((rows: RowBuilder) => void) | null, extraSize: number, nodes: string[]): number {
    // Sized before anything is built: a broadcast can ask for far more rows than it reads.
    const planned = keep.reduce((a, s) => a + s.size, 0) + (extra ? extraSize : 0);
    checkLimit(this.limits, 'maxLayerWidth', planned, `the width of the vector carrying ${keep.length + (extra ? 1 : 0)} activations (${planned})`, nodeName(node));
    const rows = new RowBuilder();
    for (const s of keep) {
      const off = this.offsetOf(s.id);
      for (let i = 0; i < s.size; i++) rows.copy(off + i);
    }
    if (extra) extra(rows);
    const width = this.width();
    const outSize = rows.count();
    checkLimit(this.limits, 'maxLayerWidth', Math.max(width, outSize), `the width of the vector carrying ${keep.length + (extra ? 1 : 0)} activations (${outSize})`, nodeName(node));
    this.reserveLayer(node, width, outSize, rows.terms() + outSize);
    this.pushLayer(rows.layer(nodes.at(-1) ?? nodeName(node), width, nodes), true);
    if (!extra) {
      this.version++;
      this.layout = keep.map((s) => ({ ...s }));
      return -1;
    }
    return this.appendSlot(keep, extraSize);
  }

  /**
   * As `relayout`, with a max pool: one-element windows (no comparison) for the slots in
   * `keep`, then `extra`'s windows (positions in the current vector) as a new slot of
   * `extraSize`; returns its id.
   */
  relayoutPool(node: NodeProto, keep: { id: number; size: number }[], extra: (window: (positions: number[]) => void) => void, extraSize: number, name: string, nodes: string[]): number {
    const planned = keep.reduce((a, s) => a + s.size, 0) + extraSize;
    checkLimit(this.limits, 'maxLayerWidth', planned, `the width of the vector carrying ${keep.length + 1} activations (${planned})`, nodeName(node));
    const rowPtr = [0];
    const idx: number[] = [];
    const window = (positions: number[]) => {
      idx.push(...positions);
      rowPtr.push(idx.length);
    };
    for (const s of keep) {
      const o = this.offsetOf(s.id);
      for (let i = 0; i < s.size; i++) window([o + i]);
    }
    extra(window);
    const width = this.width();
    this.reserveLayer(node, width, rowPtr.length - 1, idx.length);
    this.pushLayer({ kind: 'maxpool', name, inSize: width, outSize: rowPtr.length - 1, rowPtr: Int32Array.from(rowPtr), idx: Int32Array.from(idx), nodes }, true);
    return this.appendSlot(keep, extraSize);
  }

  /** After a layer that keeps the slots `keep` (in order) and appends one of `size`: the new vector's layout; the new slot's id. */
  appendSlot(keep: { id: number; size: number }[], size: number): number {
    this.version++;
    const id = this.nextSlot++;
    this.layout = [...keep.map((s) => ({ ...s })), { id, size }];
    return id;
  }
}

/** Compressed rows of a sparse layer, built row by row. */
export class RowBuilder {
  readonly rowPtr: number[] = [0];
  readonly cols: number[] = [];
  readonly vals: number[] = [];
  readonly bias: number[] = [];

  copy(col: number): void {
    this.row([[col, 1]], 0);
  }

  /** One row: the terms' weights are summed per column, columns in increasing order. */
  row(terms: [number, number][], bias: number): void {
    const byCol = new Map<number, number>();
    for (const [c, v] of terms) byCol.set(c, (byCol.get(c) ?? 0) + v);
    for (const c of [...byCol.keys()].sort((a, b) => a - b)) {
      const v = byCol.get(c)!;
      if (v === 0) continue;
      this.cols.push(c);
      this.vals.push(v);
    }
    this.bias.push(bias);
    this.rowPtr.push(this.cols.length);
  }

  count(): number {
    return this.bias.length;
  }

  terms(): number {
    return this.cols.length;
  }

  layer(name: string, inSize: number, nodes: string[]): SparseLayer {
    return { kind: 'sparse', name, inSize, outSize: this.count(), rowPtr: Int32Array.from(this.rowPtr), cols: Int32Array.from(this.cols), vals: Float64Array.from(this.vals), bias: Float64Array.from(this.bias), nodes };
  }
}

/**
 * Appends `layer` (computing the node's output `out` from the slot `c`) while other
 * activations are carried in the vector, or `c` itself is read again later.
 * - Elementwise layers act in place on `c`'s elements (`span`, or an identity diagonal
 *   elsewhere), after `c` is first copied when it is read again, and the slots nothing
 *   reads any more are first dropped.
 * - Linear layers become one sparse layer: copies of the slots still read, then the
 *   layer's rows on `c`'s elements, as a new slot at the end.
 * - A max pool passes the slots still read as windows of one element (no comparison).
 * - A tree ensemble must read the whole vector.
 */
function embed(L: Lowering, node: NodeProto, layer: Layer | DiagLayer, c: Activation, shape: number[], out: number): void {
  const name = nodeName(node);
  const kept = L.layout.filter((s) => L.needed(s.id));
  const n = L.layout.find((s) => s.id === c.slot)!.size;
  const outSize = size(shape);
  const finish = (id: number) => {
    L.consuming = L.bind(node.output![out], shape, id);
  };
  switch (layer.kind) {
    case 'diag':
    case 'relu':
    case 'leaky_relu':
    case 'clip':
    case 'sigmoid':
    case 'binarize':
    case 'normalize': {
      let slot = c.slot;
      if (L.needed(c.slot) || L.layout.some((s) => s.id !== c.slot && !L.needed(s.id))) {
        slot = L.relayout(node, kept, (rows) => {
          const off = L.offsetOf(c.slot);
          for (let i = 0; i < n; i++) rows.copy(off + i);
        }, n, [`${name}/carry`]);
      }
      const off = L.offsetOf(slot);
      const T = L.width();
      const span: [number, number] = [off, off + n];
      let inPlace: Layer | DiagLayer;
      if (layer.kind === 'diag') {
        const scale = new Float64Array(T).fill(1);
        const shift = new Float64Array(T);
        scale.set(layer.scale, off);
        shift.set(layer.shift, off);
        inPlace = { ...layer, size: T, scale, shift };
      } else if (layer.kind === 'leaky_relu') {
        const alpha = new Float64Array(T);
        alpha.set(layer.alpha, off);
        inPlace = { ...layer, size: T, alpha, span };
      } else if (layer.kind === 'binarize') {
        const threshold = new Float64Array(T);
        threshold.set(layer.threshold, off);
        inPlace = { ...layer, size: T, threshold, span };
      } else {
        inPlace = { ...layer, size: T, span };
      }
      L.reserveLayer(node, T, T, layer.kind === 'diag' || layer.kind === 'leaky_relu' ? 2 * T : 0);
      L.pushLayer(inPlace, true);
      L.version++;
      const id = L.nextSlot++;
      L.layout = L.layout.map((s) => (s.id === slot ? { id, size: outSize } : s));
      finish(id);
      return;
    }
    case 'dense':
    case 'sparse': {
      const off = L.offsetOf(c.slot);
      const id = L.relayout(node, kept, (rows) => {
        for (let j = 0; j < layer.outSize; j++) {
          const terms: [number, number][] = [];
          if (layer.kind === 'dense') {
            for (let i = 0; i < layer.inSize; i++) terms.push([off + i, layer.weights[j * layer.inSize + i]]);
          } else {
            for (let k = layer.rowPtr[j]; k < layer.rowPtr[j + 1]; k++) terms.push([off + layer.cols[k], layer.vals[k]]);
          }
          rows.row(terms, layer.bias[j]);
        }
      }, layer.outSize, layer.nodes);
      finish(id);
      return;
    }
    case 'maxpool': {
      const off = L.offsetOf(c.slot);
      const id = L.relayoutPool(node, kept, (window) => {
        for (let j = 0; j < layer.outSize; j++) window(Array.from(layer.idx.subarray(layer.rowPtr[j], layer.rowPtr[j + 1]), (k) => off + k));
      }, layer.outSize, layer.name, layer.nodes);
      finish(id);
      return;
    }
    default:
      throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `${node.opType} "${name}" (${layer.kind}) is supported only on the whole activation, not while other activations are carried beside it (a branch of the graph)`, name);
  }
}

/** For each element of `out` (a broadcast result shape), the element of `shape` it reads (numpy rules). */
function broadcastIndex(shape: number[], out: number[]): Int32Array {
  const rank = out.length;
  const s = [...Array(rank - shape.length).fill(1), ...shape];
  const strides = s.map((_, i) => s.slice(i + 1).reduce((a, b) => a * b, 1));
  const idx = new Int32Array(size(out));
  for (let k = 0; k < idx.length; k++) {
    let rem = k;
    let src = 0;
    for (let i = rank - 1; i >= 0; i--) {
      const d = rem % out[i];
      rem = Math.floor(rem / out[i]);
      if (s[i] !== 1) src += d * strides[i];
    }
    idx[k] = src;
  }
  return idx;
}

function broadcastShape(node: NodeProto, a: number[], b: number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const pa = [...Array(rank - a.length).fill(1), ...a];
  const pb = [...Array(rank - b.length).fill(1), ...b];
  return pa.map((d, i) => {
    if (d === pb[i] || pb[i] === 1) return d;
    if (d === 1) return pb[i];
    throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `${node.opType} "${nodeName(node)}": shapes [${a}] and [${b}] do not broadcast`, nodeName(node));
  });
}

/**
 * Add, Sub or Mul of two activations (numpy broadcasting). Add and Sub are linear: one
 * sparse layer (copies of what is still read, then the sums). Mul is a `mul` layer: one
 * product and one rescale per element, the other slots passed through.
 */
function lowerCombine(L: Lowering, node: NodeProto, op: string, x: Activation, y: Activation): void {
  const name = nodeName(node);
  for (const v of [x, y]) L.activation(node, v);
  const shape = broadcastShape(node, x.shape, y.shape);
  const n = size(shape);
  checkLimit(L.limits, 'maxLayerWidth', n, `the element count of ${op}'s broadcast result [${shape}]`, name);
  const ix = broadcastIndex(x.shape, shape);
  const iy = broadcastIndex(y.shape, shape);
  const ox = L.offsetOf(x.slot);
  const oy = L.offsetOf(y.slot);
  const kept = L.layout.filter((s) => L.needed(s.id));
  if (op === 'Add' || op === 'Sub') {
    const sign = op === 'Add' ? 1 : -1;
    const id = L.relayout(node, kept, (rows) => {
      for (let k = 0; k < n; k++) rows.row([[ox + ix[k], 1], [oy + iy[k], sign]], 0);
    }, n, [name]);
    L.consuming = L.bind(node.output![0], shape, id);
    return;
  }
  const T = L.width();
  const a: number[] = [];
  const b: number[] = [];
  for (const s of kept) {
    const o = L.offsetOf(s.id);
    for (let i = 0; i < s.size; i++) {
      a.push(o + i);
      b.push(-1);
    }
  }
  for (let k = 0; k < n; k++) {
    a.push(ox + ix[k]);
    b.push(oy + iy[k]);
  }
  checkLimit(L.limits, 'maxLayerWidth', Math.max(T, a.length), `the width of the vector carrying ${kept.length + 1} activations (${a.length})`, name);
  L.reserveLayer(node, T, a.length, a.length);
  L.pushLayer({ kind: 'mul', name, inSize: T, outSize: a.length, a: Int32Array.from(a), b: Int32Array.from(b), nodes: [name] }, true);
  L.consuming = L.bind(node.output![0], shape, L.appendSlot(kept, n));
}

/**
 * Sum, Mean or Max of activations and constants (numpy broadcasting). Sum and Mean are
 * one sparse layer (the constants in the bias); Max of activations is a max pool with one
 * window per element (the values compared), the other slots passed as one-element
 * windows; a Max with a constant is refused (only of activations).
 */
function lowerVariadic(L: Lowering, node: NodeProto, op: 'Sum' | 'Mean' | 'Max', ins: (Value | undefined)[]): void {
  const name = nodeName(node);
  const parts = ins.map((v, i) => {
    if (v?.kind === 'act') return { shape: v.shape, act: v, data: null as Float64Array | null };
    if (v?.kind === 'const') return { shape: v.t.shape, act: null, data: v.t.data };
    throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `${op} "${name}": input ${i} is neither an activation nor a constant`, name);
  });
  if (op === 'Max' && parts.some((p) => !p.act)) {
    throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `Max "${name}" with a constant operand is not supported (Max of activations is; use Relu or Clip for a bound)`, name);
  }
  for (const p of parts) if (p.act) L.activation(node, p.act);
  const shape = parts.reduce((acc, p) => broadcastShape(node, acc, p.shape), parts[0].shape);
  const n = size(shape);
  checkLimit(L.limits, 'maxLayerWidth', n, `the element count of ${op}'s broadcast result [${shape}]`, name);
  const maps = parts.map((p) => broadcastIndex(p.shape, shape));
  const offs = parts.map((p) => (p.act ? L.offsetOf(p.act.slot) : 0));
  const kept = L.layout.filter((s) => L.needed(s.id));
  if (op !== 'Max') {
    const f = op === 'Mean' ? 1 / parts.length : 1;
    const id = L.relayout(node, kept, (rows) => {
      for (let k = 0; k < n; k++) {
        const terms: [number, number][] = [];
        let bias = 0;
        parts.forEach((p, j) => {
          if (p.act) terms.push([offs[j] + maps[j][k], f]);
          else bias += f * p.data![maps[j][k]];
        });
        rows.row(terms, bias);
      }
    }, n, [name]);
    L.consuming = L.bind(node.output![0], shape, id);
    return;
  }
  const id = L.relayoutPool(node, kept, (window) => {
    for (let k = 0; k < n; k++) window(parts.map((_, j) => offs[j] + maps[j][k]));
  }, n, name, [name]);
  L.consuming = L.bind(node.output![0], shape, id);
}

/**
 * Concat of activations (and constants) along any axis, batch 1: a sparse layer whose
 * rows copy each element where the concatenation puts it (a constant's elements are
 * rows with a bias only).
 */
function lowerConcat(L: Lowering, node: NodeProto, ins: (Value | undefined)[]): void {
  const name = nodeName(node);
  const parts = ins.map((v, i) => {
    if (v?.kind === 'act') return { shape: v.shape, act: L.activation(node, v), data: null };
    if (v?.kind === 'const') return { shape: v.t.shape, act: null, data: v.t.data };
    throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `Concat "${name}": input ${i} is neither an activation nor a constant`, name);
  });
  const rank = parts[0].shape.length;
  const axisAttr = attrInt(node, 'axis', 0);
  const axis = axisAttr < 0 ? axisAttr + rank : axisAttr;
  if (axis < 0 || axis >= rank || parts.some((p) => p.shape.length !== rank || p.shape.some((d, i) => i !== axis && d !== parts[0].shape[i]))) {
    throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `Concat "${name}" along axis ${axisAttr} of shapes ${parts.map((p) => `[${p.shape}]`).join(', ')}: the other dimensions must agree`, name);
  }
  const outer = size(parts[0].shape.slice(0, axis));
  const inner = size(parts[0].shape.slice(axis + 1));
  const shape = parts[0].shape.map((d, i) => (i === axis ? parts.reduce((a, p) => a + p.shape[axis], 0) : d));
  const kept = L.layout.filter((s) => L.needed(s.id));
  const offs = parts.map((p) => (p.act ? L.offsetOf(p.act.slot) : 0));
  const id = L.relayout(node, kept, (rows) => {
    for (let o = 0; o < outer; o++) {
      parts.forEach((p, j) => {
        const chunk = p.shape[axis] * inner;
        for (let k = 0; k < chunk; k++) {
          const src = o * chunk + k;
          if (p.act) rows.copy(offs[j] + src);
          else rows.row([], p.data![src]);
        }
      });
    }
  }, size(shape), [name]);
  L.consuming = L.bind(node.output![0], shape, id);
}

export function diag(name: string, scale: Float64Array, shift: Float64Array, nodes: string[]): DiagLayer {
  return { kind: 'diag', name, size: scale.length, scale, shift, nodes };
}

type Handler = (L: Lowering, node: NodeProto, act: Activation, others: (Value | undefined)[]) => void;

export const nodeName = (n: NodeProto) => n.name || `${n.opType}(${n.output?.[0]})`;

function elementwise(L: Lowering, node: NodeProto, act: Activation, c: Tensor, op: string, constFirst: boolean): void {
  const n = size(act.shape);
  L.reserveLayer(node, n, n, 2 * n);
  const b = broadcastTo(c, act.shape, nodeName(node));
  const scale = new Float64Array(n).fill(1);
  const shift = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (op === 'Add') shift[i] = b[i];
    else if (op === 'Sub') {
      if (constFirst) {
        scale[i] = -1;
        shift[i] = b[i];
      } else shift[i] = -b[i];
    } else if (op === 'Mul') scale[i] = b[i];
    else {
      if (constFirst) throw new ZkinferError('MODEL_UNSUPPORTED_OP', `Div "${nodeName(node)}" divides a constant by the activation, which is not linear`, nodeName(node));
      scale[i] = 1 / b[i];
    }
  }
  L.emit(node, diag(nodeName(node), scale, shift, [nodeName(node)]), act.shape);
}

function dense(L: Lowering, node: NodeProto, act: Activation, W: Float64Array, inSize: number, outSize: number, bias: Float64Array): void {
  L.emit(node, { kind: 'dense', name: nodeName(node), inSize, outSize, weights: W, bias, nodes: [nodeName(node)] }, [...act.shape.slice(0, -1), outSize]);
}

/** The activation as a row vector [1, K]: all dimensions before the last must be 1. */
function rowLength(node: NodeProto, act: Activation): number {
  if (act.shape.slice(0, -1).some((d) => d !== 1)) {
    throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `${node.opType} "${nodeName(node)}" multiplies an activation of shape [${act.shape}]: only one row (batch 1) is supported`, nodeName(node));
  }
  return act.shape.at(-1)!;
}

function transpose(t: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = t[r * cols + c];
  return out;
}

/**
 * Data movement on an activation (Transpose, Slice, Gather with constant indices): the
 * op's constant implementation applied to the element indices 0..n-1 says where each
 * output element comes from. A layer of copy rows: no constraint, and it folds into the
 * linear layers next to it.
 */
function movement(L: Lowering, node: NodeProto, act: Activation, others: (Value | undefined)[]): void {
  const name = nodeName(node);
  const n = size(act.shape);
  const idx = L.alloc(act.shape, node);
  for (let i = 0; i < n; i++) idx[i] = i;
  const rest = others.map((v, i) => {
    if (v && v.kind !== 'const') throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `${node.opType} "${name}": input ${i + 1} must be a constant`, name);
    return v?.t;
  });
  const [out] = constantOps[node.opType!](node, [{ data: idx, shape: act.shape }, ...rest], L.opset, L);
  const m = out.data.length;
  L.reserveLayer(node, n, m, 2 * m);
  const rowPtr = Int32Array.from({ length: m + 1 }, (_, k) => k);
  L.emit(node, { kind: 'sparse', name, inSize: n, outSize: m, rowPtr, cols: Int32Array.from(out.data), vals: new Float64Array(m).fill(1), bias: new Float64Array(m), nodes: [name] }, out.shape);
}

/** ReduceSum / ReduceMean of an activation over constant axes (all when none): one sum per output, a linear layer. */
function reduce(L: Lowering, node: NodeProto, act: Activation, others: (Value | undefined)[], mean: boolean): void {
  const name = nodeName(node);
  const rank = act.shape.length;
  const axesIn = others[0];
  if (axesIn && axesIn.kind !== 'const') throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `${node.opType} "${name}": the axes must be a constant`, name);
  const listed = axesIn?.kind === 'const' ? Array.from(axesIn.t.data) : attrInts(node, 'axes');
  if ((!listed || listed.length === 0) && attrInt(node, 'noop_with_empty_axes', 0) === 1) {
    L.reshapeAct(node, act.shape);
    return;
  }
  const axes = (listed && listed.length > 0 ? listed : act.shape.map((_, i) => i)).map((a) => (a < 0 ? a + rank : a));
  if (axes.some((a) => a < 0 || a >= rank)) throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `${node.opType} "${name}": axes [${listed}] outside a rank-${rank} activation`, name);
  const keep = attrInt(node, 'keepdims', 1) === 1;
  const kept = act.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const shape = keep ? kept : act.shape.filter((_, i) => !axes.includes(i));
  const n = size(act.shape);
  const m = size(kept);
  L.reserveLayer(node, n, m, n + m);
  const count = n / m;
  // Input element i's coordinates, the reduced ones dropped, name its output.
  const outOf = new Int32Array(n);
  const outStrides = kept.map((_, i) => size(kept.slice(i + 1)));
  for (let i = 0; i < n; i++) {
    let rem = i;
    let o = 0;
    for (let d = rank - 1; d >= 0; d--) {
      const c = rem % act.shape[d];
      rem = Math.floor(rem / act.shape[d]);
      if (!axes.includes(d)) o += c * outStrides[d];
    }
    outOf[i] = o;
  }
  const rowPtr = new Int32Array(m + 1);
  for (let i = 0; i < n; i++) rowPtr[outOf[i] + 1]++;
  for (let o = 0; o < m; o++) rowPtr[o + 1] += rowPtr[o];
  const fill = Int32Array.from(rowPtr.subarray(0, m));
  const cols = new Int32Array(n);
  for (let i = 0; i < n; i++) cols[fill[outOf[i]]++] = i;
  L.emit(node, { kind: 'sparse', name, inSize: n, outSize: m, rowPtr, cols, vals: new Float64Array(n).fill(mean ? 1 / count : 1), bias: new Float64Array(m), nodes: [name] }, shape);
}

function reshapeTarget(node: NodeProto, from: number[], target: number[]): number[] {
  const out = target.map((d, i) => (d === 0 ? from[i] : d));
  const known = out.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const total = size(from);
  const res = out.map((d) => (d === -1 ? total / known : d));
  if (size(res) !== total || res.some((d) => !Number.isInteger(d))) {
    throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `Reshape "${nodeName(node)}" cannot turn [${from}] into [${target}]`, nodeName(node));
  }
  return res;
}

function axesOf(L: Lowering, node: NodeProto): number[] | undefined {
  return L.opset >= 13 && node.input?.[1] ? Array.from(L.required(node, 1, 'axes').data) : attrInts(node, 'axes');
}

const HANDLERS: Record<string, Handler> = {
  Gemm(L, node, act, [b, c]) {
    if (attrInt(node, 'transA', 0) !== 0) throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `Gemm "${nodeName(node)}" with transA is not supported`, nodeName(node));
    const B = L.required(node, 1, 'the weight matrix B');
    if (!b || B.shape.length !== 2) throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `Gemm "${nodeName(node)}" needs a 2-d constant B`, nodeName(node));
    const K = rowLength(node, act);
    const transB = attrInt(node, 'transB', 0) === 1;
    const [N, kB] = transB ? B.shape : [B.shape[1], B.shape[0]];
    if (kB !== K) throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `Gemm "${nodeName(node)}": input has ${K} features, weights expect ${kB}`, nodeName(node));
    L.reserveLayer(node, K, N, K * N + N);
    const alpha = attrFloat(node, 'alpha', 1);
    const beta = attrFloat(node, 'beta', 1);
    const W = (transB ? Float64Array.from(B.data) : transpose(B.data, B.shape[0], B.shape[1])).map((v) => v * alpha);
    const C = c ? L.constant(node, 2, 'the bias C') : undefined;
    const bias = C ? broadcastTo(C, [1, N], nodeName(node)).map((v) => v * beta) : new Float64Array(N);
    dense(L, node, act, W, K, N, bias);
  },
  MatMul(L, node, act) {
    const B = L.required(node, 1, 'the second operand');
    if (B.shape.length !== 2) throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `MatMul "${nodeName(node)}" needs a 2-d constant right operand`, nodeName(node));
    const K = rowLength(node, act);
    if (B.shape[0] !== K) throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `MatMul "${nodeName(node)}": input has ${K} features, weights expect ${B.shape[0]}`, nodeName(node));
    L.reserveLayer(node, K, B.shape[1], K * B.shape[1] + B.shape[1]);
    dense(L, node, act, transpose(B.data, K, B.shape[1]), K, B.shape[1], new Float64Array(B.shape[1]));
  },
  BatchNormalization(L, node, act) {
    const [gamma, beta, mean, variance] = [1, 2, 3, 4].map((i) => L.required(node, i, 'BatchNormalization parameters'));
    const eps = attrFloat(node, 'epsilon', 1e-5);
    const C = act.shape[1] ?? 1;
    L.reserveLayer(node, size(act.shape), size(act.shape), 2 * size(act.shape));
    const scaleC = gamma.data.map((g, c) => g / Math.sqrt(variance.data[c] + eps));
    const shiftC = beta.data.map((b, c) => b - mean.data[c] * scaleC[c]);
    const perChannel = (v: Float64Array): Tensor => ({ data: v, shape: [C, ...Array(Math.max(0, act.shape.length - 2)).fill(1)] });
    const scale = broadcastTo(perChannel(scaleC), act.shape, nodeName(node));
    const shift = broadcastTo(perChannel(shiftC), act.shape, nodeName(node));
    L.emit(node, diag(nodeName(node), scale, shift, [nodeName(node)]), act.shape);
  },
  Relu(L, node, act) {
    L.emit(node, { kind: 'relu', name: nodeName(node), size: size(act.shape), nodes: [nodeName(node)] }, act.shape);
  },
  LeakyRelu(L, node, act) {
    L.reserveLayer(node, size(act.shape), size(act.shape), size(act.shape));
    const alpha = new Float64Array(size(act.shape)).fill(attrFloat(node, 'alpha', 0.01));
    L.emit(node, { kind: 'leaky_relu', name: nodeName(node), size: alpha.length, alpha, nodes: [nodeName(node)] }, act.shape);
  },
  PRelu(L, node, act) {
    const slope = L.required(node, 1, 'the slope');
    L.reserveLayer(node, size(act.shape), size(act.shape), size(act.shape));
    // PRelu broadcasts a per-channel slope [C] (or [C,1,1]) over [N, C, ...].
    const t = slope.shape.length === 1 && act.shape.length > 2 ? { data: slope.data, shape: [slope.shape[0], ...Array(act.shape.length - 2).fill(1)] } : slope;
    const alpha = broadcastTo(t, act.shape, nodeName(node));
    L.emit(node, { kind: 'leaky_relu', name: nodeName(node), size: alpha.length, alpha, nodes: [nodeName(node)] }, act.shape);
  },
  Clip(L, node, act) {
    let min = -Infinity;
    let max = Infinity;
    if (L.opset < 11) {
      min = attrFloat(node, 'min', -Infinity);
      max = attrFloat(node, 'max', Infinity);
    } else {
      const lo = L.constant(node, 1, 'min');
      const hi = L.constant(node, 2, 'max');
      if (lo) min = lo.data[0];
      if (hi) max = hi.data[0];
    }
    L.emit(node, { kind: 'clip', name: nodeName(node), size: size(act.shape), min, max, nodes: [nodeName(node)] }, act.shape);
  },
  Sigmoid(L, node, act) {
    // A sigmoid on a branch cannot be the head: it is computed where it is.
    if (!L.whole(act)) {
      L.emit(node, { kind: 'sigmoid', name: nodeName(node), size: size(act.shape), nodes: [nodeName(node)] }, act.shape);
      return;
    }
    L.pendingHead = { op: 'sigmoid', node: nodeName(node), size: size(act.shape) };
    L.setAct(node, act.shape);
  },
  Softmax(L, node, act) {
    const axis = attrInt(node, 'axis', L.opset >= 13 ? -1 : 1);
    const rank = act.shape.length;
    const a = axis < 0 ? axis + rank : axis;
    // One softmax over the whole vector. Before opset 13 Softmax flattens the dimensions
    // from `axis` on, so only those before it must be 1; from 13 on every other one must.
    const others = L.opset < 13 ? act.shape.slice(0, a) : act.shape.filter((_, i) => i !== a);
    if (a < 0 || a >= rank || others.some((d) => d !== 1)) {
      throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `Softmax "${nodeName(node)}" over axis ${axis} of shape [${act.shape}]: only a softmax over the whole feature vector is supported`, nodeName(node));
    }
    if (!L.whole(act)) {
      throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `Softmax "${nodeName(node)}" is read by more than one node or computed on a branch: Softmax is supported only as the last op`, nodeName(node));
    }
    L.pendingHead = { op: 'softmax', node: nodeName(node), size: size(act.shape) };
    L.setAct(node, act.shape);
  },
  Flatten(L, node, act) {
    const axis = attrInt(node, 'axis', 1);
    const a = axis < 0 ? axis + act.shape.length : axis;
    L.reshapeAct(node, [size(act.shape.slice(0, a)), size(act.shape.slice(a))]);
  },
  Reshape(L, node, act) {
    L.reshapeAct(node, reshapeTarget(node, act.shape, Array.from(L.required(node, 1, 'the target shape').data)));
  },
  Squeeze(L, node, act) {
    const axes = axesOf(L, node)?.map((a) => (a < 0 ? a + act.shape.length : a));
    L.reshapeAct(node, act.shape.filter((d, i) => (axes ? !axes.includes(i) : d !== 1) || i === 0));
  },
  Unsqueeze(L, node, act) {
    const axes = axesOf(L, node) ?? [];
    const rank = act.shape.length + axes.length;
    const norm = axes.map((a) => (a < 0 ? a + rank : a));
    const out: number[] = [];
    let j = 0;
    for (let i = 0; i < rank; i++) out.push(norm.includes(i) ? 1 : act.shape[j++]);
    L.reshapeAct(node, out);
  },
  Identity: (L, node, act) => L.reshapeAct(node, act.shape),
  Transpose: movement,
  Slice: movement,
  Gather: movement,
  ReduceSum: (L, node, act, others) => reduce(L, node, act, others, false),
  ReduceMean: (L, node, act, others) => reduce(L, node, act, others, true),
  Neg(L, node, act) {
    const n = size(act.shape);
    L.reserveLayer(node, n, n, 2 * n);
    L.emit(node, diag(nodeName(node), new Float64Array(n).fill(-1), new Float64Array(n), [nodeName(node)]), act.shape);
  },
  Dropout: (L, node, act) => L.reshapeAct(node, act.shape),
  Cast(L, node, act) {
    const to = attrInt(node, 'to', 1);
    if (to !== 1 && to !== 11 && to !== 10) throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `Cast "${nodeName(node)}" of an activation to type ${to} (only float types)`, nodeName(node));
    L.reshapeAct(node, act.shape);
  },
  Expand(L, node, act) {
    const target = Array.from(L.required(node, 1, 'the shape').data);
    const rank = Math.max(target.length, act.shape.length);
    const a = [...Array(rank - act.shape.length).fill(1), ...act.shape];
    const t = [...Array(rank - target.length).fill(1), ...target];
    const out = a.map((d, i) => Math.max(d, t[i]));
    if (out.slice(1).some((d, i) => d !== a[i + 1])) {
      throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `Expand "${nodeName(node)}" replicates features, which is not supported (only the batch dimension)`, nodeName(node));
    }
    L.reshapeAct(node, a);
  },
  Tile(L, node, act) {
    const reps = Array.from(L.required(node, 1, 'the repeats').data);
    if (reps.slice(1).some((r) => r !== 1)) {
      throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `Tile "${nodeName(node)}" repeats features, which is not supported (only the batch dimension)`, nodeName(node));
    }
    // Repeating the batch only duplicates rows: one inference is still one row.
    L.reshapeAct(node, act.shape);
  },
};

for (const op of ['Add', 'Sub', 'Mul', 'Div']) {
  HANDLERS[op] = () => {
    throw new Error('unreachable: binary ops are dispatched in lowerNode');
  };
}

/** Ops of already quantized models whose activations are integers. */
const QUANTIZED_ACTIVATION_OPS = ['QuantizeLinear', 'DequantizeLinear', 'DynamicQuantizeLinear', 'MatMulInteger', 'QLinearMatMul', 'ConvInteger', 'QLinearConv', 'QLinearAdd', 'QLinearMul', 'QGemm'];

function unsupportedOp(op: string, name: string): ZkinferError {
  const why = QUANTIZED_ACTIVATION_OPS.includes(op)
    ? ' (quantized activations are not supported yet: only constant weights may be quantized, through DequantizeLinear; export the float model instead)'
    : op in constantOps
      ? ' on an activation (it is supported only on constants: weights and shapes folded at import)'
      : '';
  return new ZkinferError('MODEL_UNSUPPORTED_OP', `Unsupported ONNX op "${op}" at node "${name}"${why}; ${supportedOpsNote()}`, name);
}

function whyUnsupported(op: string): string {
  return QUANTIZED_ACTIVATION_OPS.includes(op)
    ? ' (quantized activations are not supported yet: only constant weights may be quantized, through DequantizeLinear; export the float model instead)'
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
      const why = mlRefusal(node);
      if (why) found.push({ op: `${ML_DOMAIN}.${op}`, node: name, why: ` (${why})` });
    } else if (domain !== '' && domain !== 'ai.onnx') {
      found.push({ op: `${domain}.${op}`, node: name, why: '' });
    } else if (op === 'Constant') {
      continue;
    } else if (onAct ? !ACTIVATION_OPS.includes(op) && op !== 'Shape' && op !== 'Gather' : !(op in constantOps)) {
      found.push({ op, node: name, why: whyUnsupported(op) });
    } else if ((node.input ?? []).filter((i) => live.has(i)).length > 1 && !TWO_ACTIVATION_OPS.includes(op)) {
      found.push({ op, node: name, why: ` (of two activations: ${TWO_ACTIVATION_OPS.join(', ')} of two activations are supported, other ops only with constant operands)` });
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

/** The dimensions `Shape` returns, honouring its `start` / `end` attributes (opset 15). */
function shapeSlice(node: NodeProto, shape: number[]): number[] {
  const rank = shape.length;
  const norm = (v: number) => Math.min(rank, Math.max(0, v < 0 ? v + rank : v));
  return shape.slice(norm(attrInt(node, 'start', 0)), norm(attrInt(node, 'end', rank)));
}

/**
 * Whether the node, after a classifier's scores, is them times (or divided by) the
 * constant 1, with no broadcast that changes their shape: the identity. onnxmltools ends
 * a LightGBM classifier converted without ZipMap so (`probabilities` = scores * 1).
 */
function timesOne(L: Lowering, node: NodeProto): boolean {
  const op = node.opType ?? '';
  if (!L.pendingHead?.final || (node.domain ?? '') !== '' || (op !== 'Mul' && op !== 'Div') || node.input?.length !== 2) return false;
  const [a, b] = node.input.map((n) => L.values.get(n));
  const pairs: [typeof a, typeof b][] = op === 'Mul' ? [[a, b], [b, a]] : [[a, b]];
  return pairs.some(([x, c]) => x?.kind === 'act' && c?.kind === 'const' && c.t.data.length === 1 && c.t.data[0] === 1 && c.t.shape.length <= x.shape.length);
}

/**
 * What follows a classifier's output activation as skl2onnx writes an MLPClassifier:
 * `Sub(1, p)` and `Concat(1 - p, p)` after a binary model's Sigmoid (the two columns of
 * probabilities, the IR keeping the one logit and its sigmoid head), and `ArgMax` of the
 * probabilities (or of the outputs) as the predicted label. True when the node was one.
 */
function lowerProbabilities(L: Lowering, node: NodeProto): boolean {
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
  const concatOfBoth = () => L.graphNodes.some((n) => n.opType === 'Concat' && (n.domain ?? '') === '' && n.input?.length === 2 && n.input[0] === node.output?.[0] && n.input[1] === node.input?.[1]);
  if (op === 'Sub' && a?.kind === 'const' && a.t.data.length === 1 && a.t.data[0] === 1 && isEnd(b) && h?.op === 'sigmoid' && !h.final && h.size === 1 && concatOfBoth()) {
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
      throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `ArgMax "${name}" is supported only over the model's output vector (its predicted label, the first maximum)`, name);
    }
    if (h && h.op === 'sigmoid' && !h.final) {
      throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `ArgMax "${name}" over a Sigmoid's outputs is not a decision zkinfer proves (it proves p >= 0.5 per output, or the argmax of a Softmax)`, name);
    }
    if (!h) L.argmaxLabel = true;
    L.labelSource = { node: name, slot: a.slot };
    L.values.set(node.output![0], { kind: 'label' });
    return true;
  }
  return false;
}

function lowerNodeUnchecked(L: Lowering, node: NodeProto): void {
  const op = node.opType ?? '';
  const name = nodeName(node);
  const labelIn = (node.input ?? []).some((i) => L.values.get(i)?.kind === 'label');
  if (labelIn) {
    // A classifier's label may be renamed, reshaped or cast on its way to a graph output, or
    // name a class (skl2onnx: ArrayFeatureExtractor(classes, argmax)), no more.
    const plain = (node.domain ?? '') === '' && ['Identity', 'Cast', 'Reshape', 'Squeeze', 'Unsqueeze', 'Flatten'].includes(op) && L.values.get(node.input![0])?.kind === 'label';
    const classes = L.values.get(node.input![0] ?? '');
    const picked = node.domain === ML_DOMAIN && op === 'ArrayFeatureExtractor' && classes?.kind === 'const' && L.values.get(node.input![1] ?? '')?.kind === 'label';
    if (plain || picked) {
      if (picked && classes?.kind === 'const') L.classLabels = classes.t.strings ?? Array.from(classes.t.data, (v) => String(v));
      L.values.set(node.output![0], { kind: 'label' });
      return;
    }
    throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `node "${name}" (${op}) computes on a classifier's label: only the label itself may be an output`, name);
  }
  // Reads counted down first: `emit` carries only what later nodes still read.
  L.consume(node.input ?? []);
  if (lowerProbabilities(L, node)) return;
  if (node.domain === ML_DOMAIN) {
    if (!ML_ACTIVATION_OPS.includes(op)) throw unsupportedOp(`${node.domain}.${op}`, name);
    const ins = (node.input ?? []).map((_, i) => L.get(node, i));
    if (op === 'FeatureVectorizer') {
      if (!lowerInputConcat(L, node, ins, attrInts(node, 'inputdimensions'))) {
        throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `FeatureVectorizer "${name}" is supported only for all graph inputs, in order, each at its full width, and read by nothing else`, name);
      }
      return;
    }
    const act = ins[0];
    if (act?.kind !== 'act') throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `${op} "${name}" must read the activation (its first input is constant)`, name);
    ML_HANDLERS[op](L, node, L.activation(node, act), ins);
    return;
  }
  if (node.domain && node.domain !== 'ai.onnx' && node.domain !== '') {
    throw unsupportedOp(`${node.domain}.${op}`, name);
  }
  if (op === 'Constant') {
    const t = attrTensor(node, 'value', L.limits);
    const f = (node.attribute ?? []).find((a) => a.name === 'value_float' || a.name === 'value_int' || a.name === 'value_floats' || a.name === 'value_ints');
    let tensor = t;
    if (!tensor && f) {
      if (f.name === 'value_float') tensor = { data: Float64Array.of(f.f ?? 0), shape: [] };
      else if (f.name === 'value_int') tensor = { data: Float64Array.of(Number(String(f.i))), shape: [] };
      else if (f.name === 'value_floats') tensor = { data: Float64Array.from(f.floats ?? []), shape: [(f.floats ?? []).length] };
      else tensor = { data: Float64Array.from((f.ints ?? []).map((v) => Number(String(v)))), shape: [(f.ints ?? []).length] };
    }
    if (!tensor) throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `Constant "${name}" has no supported value attribute`, name);
    L.holdConstant(tensor.data.length, name);
    L.values.set(node.output![0], { kind: 'const', t: tensor });
    return;
  }
  const ins = (node.input ?? []).map((_, i) => L.get(node, i));
  const acts = ins.filter((v): v is Activation => v?.kind === 'act');

  if (acts.length === 0) {
    // Everything constant: fold.
    const fold: ConstOp | undefined = constantOps[op];
    if (!fold) throw unsupportedOp(op, name);
    const outs = fold(node, ins.map((v) => (v as Constant | undefined)?.t), L.opset, L);
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
    throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `node "${name}" (${op}) reads two activations: of the ops on two activations, Add, Sub, Mul and Concat are supported`, name);
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
  (HANDLERS[op] ?? CONV_HANDLERS[op])(L, node, act, ins.slice(1));
}

/**
 * Concat of all graph inputs, in order, along the last axis, or an ai.onnx.ml
 * FeatureVectorizer of them (`dims`: its inputdimensions, each the input's full width),
 * when nothing else reads them: the flat input layout already is that, so the output
 * is the whole input vector, with no layer (a first Gemm then reads the raw inputs at
 * their own scales). False when this is not such a concatenation.
 */
function lowerInputConcat(L: Lowering, node: NodeProto, ins: (Value | undefined)[], dims?: number[]): boolean {
  const order = ins.map((v) => (v?.kind === 'act' ? v.inputIndex : undefined));
  const expected = L.inputs.map((_, i) => i);
  const vectorizer = node.domain === ML_DOMAIN;
  const axis = vectorizer ? -1 : attrInt(node, 'axis', 0);
  const first = ins[0];
  const rank = first?.kind === 'act' ? first.shape.length : 2;
  const widths = vectorizer && (!dims || dims.length !== L.inputs.length || dims.some((d, i) => d !== L.inputs[i].size));
  const inputsAsLaidOut = L.layout.map((s) => s.id).join() === expected.join() && L.layout.every((s) => !L.needed(s.id));
  if (L.merged || L.inputs.length < 2 || order.join() !== expected.join() || (axis !== -1 && axis !== rank - 1) || widths || !inputsAsLaidOut) return false;
  L.merged = true;
  const total = L.inputs.reduce((a, i) => a + i.size, 0);
  L.consuming = L.resetWhole(node.output![0], [1, total]);
  return true;
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

function dimsOf(vi: { type?: { tensorType?: { shape?: { dim?: { dimValue?: unknown; dimParam?: string | null }[] | null } | null } | null } | null }): (number | null)[] {
  return (vi.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimValue !== undefined && d.dimValue !== null && String(d.dimValue) !== '0' ? Number(String(d.dimValue)) : null));
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
    if (!t.strings && t.data.some((v) => !Number.isFinite(v))) throw new ZkinferError('MODEL_BAD_WEIGHTS', `initializer "${name}" contains NaN or Infinity`, name);
    L.values.set(name, { kind: 'const', t });
  }
  const graphInputs = (graph.input ?? []).filter((i) => !initializers.has(i.name ?? ''));
  L.countUses(graph.node ?? [], (graph.output ?? []).map((o) => o.name ?? ''));
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
      throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `graph input "${gi.name}" has an unknown feature dimension [${dims.map((d) => d ?? '?')}]`, gi.name ?? undefined);
    }
    const shape = feat as number[];
    const n = elementCount(shape, gi.name ?? `input${index}`);
    checkLimit(limits, 'maxLayerWidth', offset + n, `the input width (features of ${index === 0 ? `input ${gi.name}` : `inputs up to and including ${gi.name}`})`, gi.name ?? undefined);
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

  refuseUnsupported(graph.node ?? [], [...L.values.entries()].filter(([, v]) => v.kind === 'act').map(([k]) => k));
  const prefix = lowerColumnPrefix(L, graph.node ?? [], (graph.output ?? []).map((o) => o.name ?? ''));
  for (const node of graph.node ?? []) if (prefix.has(nodeName(node))) L.consume(node.input ?? []);
  for (const node of graph.node ?? []) if (!prefix.has(nodeName(node))) lowerNode(L, node);
  // Categorical columns widened the flat vector (one feature per category).
  offset = L.inputs.reduce((a, i) => a + i.size, 0);

  // One output is the end of the chain; a classifier's label may sit beside it.
  const outputs = (graph.output ?? []).map((o) => o.name ?? '');
  const labelOutputs = outputs.filter((n) => L.values.get(n)?.kind === 'label');
  const chainOutputs = outputs.filter((n) => !labelOutputs.includes(n));
  if (chainOutputs.length !== 1) {
    throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `the graph has ${chainOutputs.length} outputs besides a classifier's label (${chainOutputs.join(', ') || 'none'}); exactly one is supported`, 'model');
  }
  const outName = chainOutputs[0];
  const out = L.values.get(outName);
  if (!out || out.kind !== 'act' || !L.layout.some((s) => s.id === out.slot)) {
    throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `graph output "${outName}" is not computed from the graph inputs`, outName);
  }
  if (L.labelSource && L.labelSource.slot !== out.slot) {
    throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `ArgMax "${L.labelSource.node}" is not of the graph output "${outName}": a label is supported only as the argmax of the model's outputs`, L.labelSource.node);
  }
  if (L.layout.length > 1) {
    // Values nothing read any more (read only by Shape, say) are dropped.
    L.relayout({ name: `${outName}/output`, opType: 'Identity' } as NodeProto, L.layout.filter((s) => s.id === out.slot), null, 0, [`${outName}/output`]);
  }
  const cls = L.classifier;
  // A ZipMap's output is fetched from onnxruntime as the tensor it reads.
  let fetch = outName;
  while (L.zipMaps.has(fetch)) fetch = L.zipMaps.get(fetch)!;
  const zipMap = fetch !== outName ? outName : undefined;
  const onnxOutput = cls ? { name: fetch, pick: cls.pick, apply: cls.apply, ...(zipMap ? { zipMap } : {}) } : zipMap ? { name: fetch, pick: Array.from({ length: size(out.shape) }, (_, i) => i), apply: 'none' as Head, zipMap } : undefined;
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
