import { ZkinferError } from '../../../core/errors.ts';
import { attrInt, attrInts } from '../../onnx/attributes.ts';
import type { NodeProto } from '../../onnx/file.ts';
import type { Handler, Lowering } from '../context.ts';
import { type Activation, nodeName, size, type Value } from '../values.ts';
import { constantOps } from './const.ts';

/**
 * Ops that change only an activation's shape (Flatten, Reshape, Squeeze, Unsqueeze,
 * Identity, Dropout, Cast, Expand and Tile of the batch), and data movement (Transpose,
 * Slice, Gather: a layer of copy rows).
 */

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
  L.emit(
    node,
    {
      kind: 'sparse',
      name,
      inSize: n,
      outSize: m,
      rowPtr,
      cols: Int32Array.from(out.data),
      vals: new Float64Array(m).fill(1),
      bias: new Float64Array(m),
      nodes: [name],
    },
    out.shape,
  );
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

export const SHAPE_HANDLERS: Record<string, Handler> = {
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
    L.reshapeAct(
      node,
      act.shape.filter((d, i) => (axes ? !axes.includes(i) : d !== 1) || i === 0),
    );
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
  Dropout: (L, node, act) => L.reshapeAct(node, act.shape),
  Cast(L, node, act) {
    const to = attrInt(node, 'to', 1);
    if (to !== 1 && to !== 11 && to !== 10)
      throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `Cast "${nodeName(node)}" of an activation to type ${to} (only float types)`, nodeName(node));
    L.reshapeAct(node, act.shape);
  },
  Expand(L, node, act) {
    const target = Array.from(L.required(node, 1, 'the shape').data);
    const rank = Math.max(target.length, act.shape.length);
    const a = [...Array(rank - act.shape.length).fill(1), ...act.shape];
    const t = [...Array(rank - target.length).fill(1), ...target];
    const out = a.map((d, i) => Math.max(d, t[i]));
    if (out.slice(1).some((d, i) => d !== a[i + 1])) {
      throw new ZkinferError(
        'MODEL_UNSUPPORTED_GRAPH',
        `Expand "${nodeName(node)}" replicates features, which is not supported (only the batch dimension)`,
        nodeName(node),
      );
    }
    L.reshapeAct(node, a);
  },
  Tile(L, node, act) {
    const reps = Array.from(L.required(node, 1, 'the repeats').data);
    if (reps.slice(1).some((r) => r !== 1)) {
      throw new ZkinferError(
        'MODEL_UNSUPPORTED_GRAPH',
        `Tile "${nodeName(node)}" repeats features, which is not supported (only the batch dimension)`,
        nodeName(node),
      );
    }
    // Repeating the batch only duplicates rows: one inference is still one row.
    L.reshapeAct(node, act.shape);
  },
};

/** The dimensions `Shape` returns, honouring its `start` / `end` attributes (opset 15). */
export function shapeSlice(node: NodeProto, shape: number[]): number[] {
  const rank = shape.length;
  const norm = (v: number) => Math.min(rank, Math.max(0, v < 0 ? v + rank : v));
  return shape.slice(norm(attrInt(node, 'start', 0)), norm(attrInt(node, 'end', rank)));
}
