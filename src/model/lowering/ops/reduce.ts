import { ZkinferError } from '../../../core/errors.ts';
import { attrInt, attrInts } from '../../onnx/attributes.ts';
import type { NodeProto } from '../../onnx/file.ts';
import type { Handler, Lowering } from '../context.ts';
import { type Activation, nodeName, size, type Value } from '../values.ts';

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
  if (axes.some((a) => a < 0 || a >= rank))
    throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `${node.opType} "${name}": axes [${listed}] outside a rank-${rank} activation`, name);
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
  L.emit(
    node,
    {
      kind: 'sparse',
      name,
      inSize: n,
      outSize: m,
      rowPtr,
      cols,
      vals: new Float64Array(n).fill(mean ? 1 / count : 1),
      bias: new Float64Array(m),
      nodes: [name],
    },
    shape,
  );
}

export const REDUCE_HANDLERS: Record<string, Handler> = {
  ReduceSum: (L, node, act, others) => reduce(L, node, act, others, false),
  ReduceMean: (L, node, act, others) => reduce(L, node, act, others, true),
};
