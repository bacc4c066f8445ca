import { ZkinferError } from '../../../core/errors.ts';
import { attrFloat, attrInt, attrInts, attrTensor } from '../../onnx/attributes.ts';
import type { NodeProto, Tensor } from '../../onnx/file.ts';
import type { Lowering } from '../context.ts';
import { type FoldContext, nodeName } from '../values.ts';

/**
 * Constant folding: ops whose inputs are all constants are evaluated at import time
 * (shape preludes such as Shape -> Gather -> Concat -> Reshape, and dequantized weights).
 */
export type ConstOp = (node: NodeProto, ins: (Tensor | undefined)[], opset: number, ctx: FoldContext) => Tensor[];

/** `f` applied to every element of `a`, into checked storage. */
function mapInto(ctx: FoldContext, node: NodeProto, a: Tensor, f: (v: number, i: number) => number): Tensor {
  const data = ctx.alloc(a.shape, node);
  for (let i = 0; i < data.length; i++) data[i] = f(a.data[i], i);
  return { shape: a.shape, data };
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const strides = (shape: number[]) => shape.map((_, i) => size(shape.slice(i + 1)));

function need(node: NodeProto, t: Tensor | undefined, what: string): Tensor {
  if (!t) throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `${node.opType} "${node.name}" is missing ${what}`, node.name ?? undefined);
  return t;
}

function broadcastShape(a: number[], b: number[]): number[] {
  const r = Math.max(a.length, b.length);
  const pa = [...Array(r - a.length).fill(1), ...a];
  const pb = [...Array(r - b.length).fill(1), ...b];
  return pa.map((d, i) => (d === 1 ? pb[i] : d));
}

function at(t: Tensor, shape: number[], flat: number): number {
  const pad = [...Array(shape.length - t.shape.length).fill(1), ...t.shape];
  const st = strides(pad);
  let rem = flat;
  let src = 0;
  for (let i = shape.length - 1; i >= 0; i--) {
    const idx = rem % shape[i];
    rem = Math.floor(rem / shape[i]);
    if (pad[i] !== 1) src += idx * st[i];
  }
  return t.data[src];
}

/** A tensor of `shape` whose element at each index is A's at the sum of `offset(axis, index)`. */
function gatherBy(ctx: FoldContext, node: NodeProto, A: Tensor, shape: number[], offset: (axis: number, idx: number) => number): Tensor {
  const data = ctx.alloc(shape, node);
  for (let flat = 0; flat < data.length; flat++) {
    let rem = flat;
    let src = 0;
    for (let i = shape.length - 1; i >= 0; i--) {
      src += offset(i, rem % shape[i]);
      rem = Math.floor(rem / shape[i]);
    }
    data[flat] = A.data[src];
  }
  return { shape, data };
}

function binary(f: (a: number, b: number) => number): ConstOp {
  return (node, [a, b], _opset, ctx) => {
    const A = need(node, a, 'an operand');
    const B = need(node, b, 'an operand');
    const shape = broadcastShape(A.shape, B.shape);
    const data = ctx.alloc(shape, node);
    for (let i = 0; i < data.length; i++) data[i] = f(at(A, shape, i), at(B, shape, i));
    return [{ shape, data }];
  };
}

function axesInput(node: NodeProto, ins: (Tensor | undefined)[], opset: number): number[] | undefined {
  return opset >= 13 && ins[1] ? Array.from(ins[1].data) : attrInts(node, 'axes');
}

export const constantOps: Record<string, ConstOp> = {
  Identity: (_n, [a]) => [a!],
  Cast(node, [a], _opset, ctx) {
    const to = attrInt(node, 'to', 1);
    const isInt = [2, 3, 4, 5, 6, 7, 12, 13].includes(to);
    return [mapInto(ctx, node, need(node, a, 'data'), isInt ? Math.trunc : (v) => v)];
  },
  Add: binary((a, b) => a + b),
  Sub: binary((a, b) => a - b),
  Mul: binary((a, b) => a * b),
  Div: binary((a, b) => a / b),
  Neg: (node, [a], _opset, ctx) => [mapInto(ctx, node, need(node, a, 'data'), (v) => -v)],
  Sqrt: (node, [a], _opset, ctx) => [mapInto(ctx, node, need(node, a, 'data'), Math.sqrt)],
  Shape(node, [a]) {
    const A = need(node, a, 'data');
    const rank = A.shape.length;
    const norm = (v: number) => Math.min(rank, Math.max(0, v < 0 ? v + rank : v));
    const dims = A.shape.slice(norm(attrInt(node, 'start', 0)), norm(attrInt(node, 'end', rank)));
    return [{ shape: [dims.length], data: Float64Array.from(dims) }];
  },
  ConstantOfShape(node, [s], _opset, ctx) {
    const shape = Array.from(need(node, s, 'a shape').data);
    const data = ctx.alloc(shape, node);
    const v = attrTensor(node, 'value')?.data[0] ?? 0;
    return [{ shape, data: data.fill(v) }];
  },
  Reshape(node, [a, s]) {
    const A = need(node, a, 'data');
    const target = Array.from(need(node, s, 'a shape').data).map((d, i) => (d === 0 ? A.shape[i] : d));
    const known = target.filter((d) => d !== -1).reduce((x, y) => x * y, 1);
    return [{ shape: target.map((d) => (d === -1 ? A.data.length / known : d)), data: A.data }];
  },
  Flatten(node, [a]) {
    const axis = attrInt(node, 'axis', 1);
    return [{ shape: [size(a!.shape.slice(0, axis)), size(a!.shape.slice(axis))], data: a!.data }];
  },
  Squeeze(node, ins, opset) {
    const axes = axesInput(node, ins, opset)?.map((x) => (x < 0 ? x + ins[0]!.shape.length : x));
    return [{ shape: ins[0]!.shape.filter((d, i) => (axes ? !axes.includes(i) : d !== 1)), data: ins[0]!.data }];
  },
  Unsqueeze(node, ins, opset) {
    const axes = axesInput(node, ins, opset) ?? [];
    const rank = ins[0]!.shape.length + axes.length;
    const norm = axes.map((x) => (x < 0 ? x + rank : x));
    const out: number[] = [];
    let j = 0;
    for (let i = 0; i < rank; i++) out.push(norm.includes(i) ? 1 : ins[0]!.shape[j++]);
    return [{ shape: out, data: ins[0]!.data }];
  },
  Concat(node, ins, _opset, ctx) {
    const parts = ins.filter((t): t is Tensor => !!t);
    const axis0 = attrInt(node, 'axis', 0);
    const rank = parts[0].shape.length;
    const axis = axis0 < 0 ? axis0 + rank : axis0;
    const outer = size(parts[0].shape.slice(0, axis));
    const shape = [...parts[0].shape];
    shape[axis] = parts.reduce((a, p) => a + p.shape[axis], 0);
    const data = ctx.alloc(shape, node);
    let k = 0;
    for (let o = 0; o < outer; o++) {
      for (const p of parts) {
        const chunk = size(p.shape.slice(axis));
        const piece = p.data.subarray(o * chunk, (o + 1) * chunk);
        if (k + piece.length > data.length)
          throw new ZkinferError(
            'MODEL_UNSUPPORTED_GRAPH',
            `Concat "${node.name}": inputs of shapes ${parts.map((q) => `[${q.shape}]`).join(', ')} do not concatenate`,
            node.name ?? undefined,
          );
        data.set(piece, k);
        k += piece.length;
      }
    }
    return [{ shape, data }];
  },
  Gather(node, [a, idx], _opset, ctx) {
    const A = need(node, a, 'data');
    const I = need(node, idx, 'indices');
    const axis0 = attrInt(node, 'axis', 0);
    const axis = axis0 < 0 ? axis0 + A.shape.length : axis0;
    const outer = size(A.shape.slice(0, axis));
    const inner = size(A.shape.slice(axis + 1));
    const dim = A.shape[axis];
    const shape = [...A.shape.slice(0, axis), ...I.shape, ...A.shape.slice(axis + 1)];
    const data = ctx.alloc(shape, node);
    let j = 0;
    for (let o = 0; o < outer; o++) {
      for (const raw of I.data) {
        const k = raw < 0 ? raw + dim : raw;
        if (!(k >= 0 && k < dim))
          throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `Gather "${node.name}": index ${raw} is outside a dimension of ${dim}`, node.name ?? undefined);
        data.set(A.data.subarray((o * dim + k) * inner, (o * dim + k + 1) * inner), j);
        j += inner;
      }
    }
    return [{ shape, data }];
  },
  Expand(node, [a, s], _opset, ctx) {
    const A = need(node, a, 'data');
    const shape = broadcastShape(A.shape, Array.from(need(node, s, 'a shape').data));
    const data = ctx.alloc(shape, node);
    for (let i = 0; i < data.length; i++) data[i] = at(A, shape, i);
    return [{ shape, data }];
  },
  Tile(node, [a, r], _opset, ctx) {
    const A = need(node, a, 'data');
    const reps = Array.from(need(node, r, 'repeats').data);
    const st = strides(A.shape);
    return [
      gatherBy(
        ctx,
        node,
        A,
        A.shape.map((d, i) => d * reps[i]),
        (i, idx) => (idx % A.shape[i]) * st[i],
      ),
    ];
  },
  Slice(node, ins, opset, ctx) {
    const A = need(node, ins[0], 'data');
    const rank = A.shape.length;
    const fromInput = (i: number) => (ins[i] ? Array.from(ins[i]!.data) : undefined);
    const starts = (opset >= 10 ? Array.from(need(node, ins[1], 'starts').data) : attrInts(node, 'starts')) ?? [];
    const ends = (opset >= 10 ? Array.from(need(node, ins[2], 'ends').data) : attrInts(node, 'ends')) ?? [];
    const axes = (opset >= 10 ? fromInput(3) : attrInts(node, 'axes')) ?? starts.map((_, i) => i);
    const steps = (opset >= 10 ? fromInput(4) : undefined) ?? starts.map(() => 1);
    const begin = A.shape.map(() => 0);
    const step = A.shape.map(() => 1);
    const shape = [...A.shape];
    const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
    axes.forEach((ax0, k) => {
      const ax = ax0 < 0 ? ax0 + rank : ax0;
      const d = A.shape[ax];
      const st = steps[k];
      if (d === undefined || !st)
        throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `Slice "${node.name}": axis ${ax0} or step ${st} is invalid`, node.name ?? undefined);
      let s0 = starts[k] < 0 ? starts[k] + d : starts[k];
      let e0 = ends[k] < 0 ? ends[k] + d : ends[k];
      if (st > 0) [s0, e0] = [clamp(s0, 0, d), clamp(e0, 0, d)];
      else [s0, e0] = [clamp(s0, 0, d - 1), clamp(e0, -1, d - 1)];
      shape[ax] = Math.max(0, Math.ceil((e0 - s0) / st));
      begin[ax] = s0;
      step[ax] = st;
    });
    const st = strides(A.shape);
    return [gatherBy(ctx, node, A, shape, (i, idx) => (begin[i] + idx * step[i]) * st[i])];
  },
  Transpose(node, [a], _opset, ctx) {
    const A = need(node, a, 'data');
    const perm = attrInts(node, 'perm') ?? A.shape.map((_, i) => A.shape.length - 1 - i);
    const st = strides(A.shape);
    return [
      gatherBy(
        ctx,
        node,
        A,
        perm.map((p) => A.shape[p]),
        (i, idx) => idx * st[perm[i]],
      ),
    ];
  },
  /** Dequantized weights: (q - zero point) * scale, per tensor or per axis. */
  DequantizeLinear(node, [x, scale, zp], _opset, ctx) {
    const X = need(node, x, 'data');
    const S = need(node, scale, 'a scale');
    const axis0 = attrInt(node, 'axis', 1);
    const axis = axis0 < 0 ? axis0 + X.shape.length : axis0;
    const inner = size(X.shape.slice(axis + 1));
    const dim = X.shape[axis] ?? 1;
    const pick = (t: Tensor | undefined, i: number) => (!t ? 0 : t.data.length === 1 ? t.data[0] : t.data[Math.floor(i / inner) % dim]);
    return [mapInto(ctx, node, X, (q, i) => (q - pick(zp, i)) * pick(S, i))];
  },
  QuantizeLinear(node, [x, scale, zp], _opset, ctx) {
    const X = need(node, x, 'data');
    const S = need(node, scale, 'a scale');
    const z = zp?.data[0] ?? 0;
    const [lo, hi] = zp && zp.data.length && node.input?.[2] && zp.data.some((v) => v < 0) ? [-128, 127] : [0, 255];
    return [mapInto(ctx, node, X, (v) => Math.min(hi, Math.max(lo, Math.round(v / S.data[0]) + z)))];
  },
  Clip(node, [a, lo, hi], opset, ctx) {
    const min = opset < 11 ? attrFloat(node, 'min', -Infinity) : (lo?.data[0] ?? -Infinity);
    const max = opset < 11 ? attrFloat(node, 'max', Infinity) : (hi?.data[0] ?? Infinity);
    return [mapInto(ctx, node, need(node, a, 'data'), (v) => Math.min(max, Math.max(min, v)))];
  },
  Relu: (node, [a], _opset, ctx) => [mapInto(ctx, node, need(node, a, 'data'), (v) => Math.max(0, v))],
};

/** A Constant node: its value attribute (a tensor, or value_float(s) / value_int(s)) becomes a constant. */
export function lowerConstantNode(L: Lowering, node: NodeProto): void {
  const name = nodeName(node);
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
}
