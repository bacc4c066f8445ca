import { ZkinferError } from '../../../core/errors.ts';
import { checkLimit } from '../../limits.ts';
import { attrInt } from '../../onnx/attributes.ts';
import type { NodeProto } from '../../onnx/file.ts';
import { broadcastIndex, broadcastShape } from '../broadcast.ts';
import type { Lowering } from '../context.ts';
import { type Activation, ML_DOMAIN, nodeName, size, type Value } from '../values.ts';

/** Ops that may read two activations (a graph that is a DAG): the rest take constants beside one activation. */
export const TWO_ACTIVATION_OPS = ['Add', 'Sub', 'Mul', 'Concat', 'Sum', 'Mean', 'Max'];

/**
 * Add, Sub or Mul of two activations (numpy broadcasting). Add and Sub are linear: one
 * sparse layer (copies of what is still read, then the sums). Mul is a `mul` layer: one
 * product and one rescale per element, the other slots passed through.
 */
export function lowerCombine(L: Lowering, node: NodeProto, op: string, x: Activation, y: Activation): void {
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
    const id = L.relayout(
      node,
      kept,
      (rows) => {
        for (let k = 0; k < n; k++)
          rows.row(
            [
              [ox + ix[k], 1],
              [oy + iy[k], sign],
            ],
            0,
          );
      },
      n,
      [name],
    );
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
export function lowerVariadic(L: Lowering, node: NodeProto, op: 'Sum' | 'Mean' | 'Max', ins: (Value | undefined)[]): void {
  const name = nodeName(node);
  const parts = ins.map((v, i) => {
    if (v?.kind === 'act') return { shape: v.shape, act: v, data: null as Float64Array | null };
    if (v?.kind === 'const') return { shape: v.t.shape, act: null, data: v.t.data };
    throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `${op} "${name}": input ${i} is neither an activation nor a constant`, name);
  });
  if (op === 'Max' && parts.some((p) => !p.act)) {
    throw new ZkinferError(
      'MODEL_UNSUPPORTED_GRAPH',
      `Max "${name}" with a constant operand is not supported (Max of activations is; use Relu or Clip for a bound)`,
      name,
    );
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
    const id = L.relayout(
      node,
      kept,
      (rows) => {
        for (let k = 0; k < n; k++) {
          const terms: [number, number][] = [];
          let bias = 0;
          parts.forEach((p, j) => {
            if (p.act) terms.push([offs[j] + maps[j][k], f]);
            else bias += f * p.data![maps[j][k]];
          });
          rows.row(terms, bias);
        }
      },
      n,
      [name],
    );
    L.consuming = L.bind(node.output![0], shape, id);
    return;
  }
  const id = L.relayoutPool(
    node,
    kept,
    (window) => {
      for (let k = 0; k < n; k++) window(parts.map((_, j) => offs[j] + maps[j][k]));
    },
    n,
    name,
    [name],
  );
  L.consuming = L.bind(node.output![0], shape, id);
}

/**
 * Concat of activations (and constants) along any axis, batch 1: a sparse layer whose
 * rows copy each element where the concatenation puts it (a constant's elements are
 * rows with a bias only).
 */
export function lowerConcat(L: Lowering, node: NodeProto, ins: (Value | undefined)[]): void {
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
    throw new ZkinferError(
      'MODEL_UNSUPPORTED_GRAPH',
      `Concat "${name}" along axis ${axisAttr} of shapes ${parts.map((p) => `[${p.shape}]`).join(', ')}: the other dimensions must agree`,
      name,
    );
  }
  const outer = size(parts[0].shape.slice(0, axis));
  const inner = size(parts[0].shape.slice(axis + 1));
  const shape = parts[0].shape.map((d, i) => (i === axis ? parts.reduce((a, p) => a + p.shape[axis], 0) : d));
  const kept = L.layout.filter((s) => L.needed(s.id));
  const offs = parts.map((p) => (p.act ? L.offsetOf(p.act.slot) : 0));
  const id = L.relayout(
    node,
    kept,
    (rows) => {
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
    },
    size(shape),
    [name],
  );
  L.consuming = L.bind(node.output![0], shape, id);
}

/**
 * Concat of all graph inputs, in order, along the last axis, or an ai.onnx.ml
 * FeatureVectorizer of them (`dims`: its inputdimensions, each the input's full width),
 * when nothing else reads them: the flat input layout already is that, so the output
 * is the whole input vector, with no layer (a first Gemm then reads the raw inputs at
 * their own scales). False when this is not such a concatenation.
 */
export function lowerInputConcat(L: Lowering, node: NodeProto, ins: (Value | undefined)[], dims?: number[]): boolean {
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
