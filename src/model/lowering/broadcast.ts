import { ZkinferError } from '../../core/errors.ts';
import type { NodeProto, Tensor } from '../onnx/file.ts';
import { nodeName, size } from './values.ts';

/** Broadcasts a constant to an activation's full shape (numpy rules), flattened row-major. */
export function broadcastTo(t: Tensor, shape: number[], where: string): Float64Array {
  const rank = shape.length;
  const ts = [...Array(Math.max(0, rank - t.shape.length)).fill(1), ...t.shape];
  if (ts.length > rank || ts.some((d, i) => d !== 1 && d !== shape[i])) {
    throw new ZkinferError(
      'MODEL_UNSUPPORTED_GRAPH',
      `${where}: a constant of shape [${t.shape}] does not broadcast to the activation shape [${shape}]`,
      where,
    );
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

/** For each element of `out` (a broadcast result shape), the element of `shape` it reads (numpy rules). */
export function broadcastIndex(shape: number[], out: number[]): Int32Array {
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

export function broadcastShape(node: NodeProto, a: number[], b: number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const pa = [...Array(rank - a.length).fill(1), ...a];
  const pb = [...Array(rank - b.length).fill(1), ...b];
  return pa.map((d, i) => {
    if (d === pb[i] || pb[i] === 1) return d;
    if (d === 1) return pb[i];
    throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `${node.opType} "${nodeName(node)}": shapes [${a}] and [${b}] do not broadcast`, nodeName(node));
  });
}
