import { ZkinferError } from '../../core/errors.ts';
import type { Head, IrInput, Layer } from '../ir.ts';
import { checkLimit, elementCount, type ModelLimits } from '../limits.ts';
import type { NodeProto, Tensor } from '../onnx/file.ts';
import { type DiagLayer, foldInto, layerParameters } from './fold.ts';
import { RowBuilder } from './rows.ts';
import { type Activation, type FoldContext, ML_DOMAIN, nodeName, size, type Value } from './values.ts';

/**
 * The state of one lowering: the values bound so far, the layers built, the vector the
 * chain carries (its slots), and the pending head. Every op handler works through it.
 */

/** An op handler: lowers `node`, which reads the activation `act` and `others` (its other inputs). */
export type Handler = (L: Lowering, node: NodeProto, act: Activation, others: (Value | undefined)[]) => void;

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
    checkLimit(
      this.limits,
      'maxTensorElements',
      n,
      `the element count of the constant [${shape.slice(0, 8).join(',')}${shape.length > 8 ? ',...' : ''}] that ${node.opType} would compute`,
      where,
    );
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
      `the parameter count of the layers up to and including this one (held while lowering, before adjacent linear ` +
        `layers fold: up to twice the limit of ${this.limits.maxParameters.toLocaleString('en-US')} for the folded model)`,
      where,
    );
  }

  get(node: NodeProto, i: number): Value | undefined {
    const name = node.input?.[i];
    if (!name) return undefined;
    const v = this.values.get(name);
    if (!v)
      throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `node "${node.name}" (${node.opType}) reads "${name}", which nothing produces`, node.name ?? undefined);
    return v;
  }

  constant(node: NodeProto, i: number, what: string): Tensor | undefined {
    const v = this.get(node, i);
    if (!v) return undefined;
    if (v.kind !== 'const')
      throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `node "${node.name}" (${node.opType}): ${what} must be a constant`, node.name ?? undefined);
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
      throw new ZkinferError(
        'MODEL_UNSUPPORTED_GRAPH',
        `node "${node.name}" (${node.opType}) reads an activation that is no longer available (a graph input read again after its columns were encoded)`,
        node.name ?? undefined,
      );
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
      throw new ZkinferError(
        'MODEL_UNSUPPORTED_GRAPH',
        `classifier "${h.node}" is followed by "${node.name}" (${node.opType}): a classifier's scores are supported only as the output`,
        h.node,
      );
    }
    if (h.op === 'softmax') {
      throw new ZkinferError(
        'MODEL_UNSUPPORTED_GRAPH',
        `Softmax "${h.node}" is followed by "${node.name}" (${node.opType}): Softmax is supported only as the last op`,
        h.node,
      );
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
   * (see `copySources` in src/layers/linear.ts), so carrying a value is free.
   */
  relayout(node: NodeProto, keep: { id: number; size: number }[], extra: ((rows: RowBuilder) => void) | null, extraSize: number, nodes: string[]): number {
    // Sized before anything is built: a broadcast can ask for far more rows than it reads.
    const planned = keep.reduce((a, s) => a + s.size, 0) + (extra ? extraSize : 0);
    checkLimit(
      this.limits,
      'maxLayerWidth',
      planned,
      `the width of the vector carrying ${keep.length + (extra ? 1 : 0)} activations (${planned})`,
      nodeName(node),
    );
    const rows = new RowBuilder();
    for (const s of keep) {
      const off = this.offsetOf(s.id);
      for (let i = 0; i < s.size; i++) rows.copy(off + i);
    }
    if (extra) extra(rows);
    const width = this.width();
    const outSize = rows.count();
    checkLimit(
      this.limits,
      'maxLayerWidth',
      Math.max(width, outSize),
      `the width of the vector carrying ${keep.length + (extra ? 1 : 0)} activations (${outSize})`,
      nodeName(node),
    );
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
  relayoutPool(
    node: NodeProto,
    keep: { id: number; size: number }[],
    extra: (window: (positions: number[]) => void) => void,
    extraSize: number,
    name: string,
    nodes: string[],
  ): number {
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
    this.pushLayer(
      { kind: 'maxpool', name, inSize: width, outSize: rowPtr.length - 1, rowPtr: Int32Array.from(rowPtr), idx: Int32Array.from(idx), nodes },
      true,
    );
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
        slot = L.relayout(
          node,
          kept,
          (rows) => {
            const off = L.offsetOf(c.slot);
            for (let i = 0; i < n; i++) rows.copy(off + i);
          },
          n,
          [`${name}/carry`],
        );
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
      const id = L.relayout(
        node,
        kept,
        (rows) => {
          for (let j = 0; j < layer.outSize; j++) {
            const terms: [number, number][] = [];
            if (layer.kind === 'dense') {
              for (let i = 0; i < layer.inSize; i++) terms.push([off + i, layer.weights[j * layer.inSize + i]]);
            } else {
              for (let k = layer.rowPtr[j]; k < layer.rowPtr[j + 1]; k++) terms.push([off + layer.cols[k], layer.vals[k]]);
            }
            rows.row(terms, layer.bias[j]);
          }
        },
        layer.outSize,
        layer.nodes,
      );
      finish(id);
      return;
    }
    case 'maxpool': {
      const off = L.offsetOf(c.slot);
      const id = L.relayoutPool(
        node,
        kept,
        (window) => {
          for (let j = 0; j < layer.outSize; j++) window(Array.from(layer.idx.subarray(layer.rowPtr[j], layer.rowPtr[j + 1]), (k) => off + k));
        },
        layer.outSize,
        layer.name,
        layer.nodes,
      );
      finish(id);
      return;
    }
    default:
      throw new ZkinferError(
        'MODEL_UNSUPPORTED_GRAPH',
        `${node.opType} "${name}" (${layer.kind}) is supported only on the whole activation, not while other activations ` +
          `are carried beside it (a branch of the graph)`,
        name,
      );
  }
}

/**
 * Whether the node, after a classifier's scores, is them times (or divided by) the
 * constant 1, with no broadcast that changes their shape: the identity. onnxmltools ends
 * a LightGBM classifier converted without ZipMap so (`probabilities` = scores * 1).
 */
export function timesOne(L: Lowering, node: NodeProto): boolean {
  const op = node.opType ?? '';
  if (!L.pendingHead?.final || (node.domain ?? '') !== '' || (op !== 'Mul' && op !== 'Div') || node.input?.length !== 2) return false;
  const [a, b] = node.input.map((n) => L.values.get(n));
  const pairs: [typeof a, typeof b][] =
    op === 'Mul'
      ? [
          [a, b],
          [b, a],
        ]
      : [[a, b]];
  return pairs.some(([x, c]) => x?.kind === 'act' && c?.kind === 'const' && c.t.data.length === 1 && c.t.data[0] === 1 && c.t.shape.length <= x.shape.length);
}
