import { ZkinferError } from '../../../core/errors.ts';
import { attrFloat, attrInt } from '../../onnx/attributes.ts';
import type { NodeProto, Tensor } from '../../onnx/file.ts';
import { broadcastTo } from '../broadcast.ts';
import type { Handler, Lowering } from '../context.ts';
import { type Activation, diag, nodeName, size } from '../values.ts';

/**
 * Linear ops with constant weights: Gemm and MatMul (a dense layer), BatchNormalization,
 * Neg, and Add / Sub / Mul / Div of the activation and a constant (elementwise affine).
 */

/** Add, Sub, Mul or Div of the activation and a constant `c` (`constFirst`: c is the first operand). */
export function elementwise(L: Lowering, node: NodeProto, act: Activation, c: Tensor, op: string, constFirst: boolean): void {
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
      if (constFirst)
        throw new ZkinferError('MODEL_UNSUPPORTED_OP', `Div "${nodeName(node)}" divides a constant by the activation, which is not linear`, nodeName(node));
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
    throw new ZkinferError(
      'MODEL_UNSUPPORTED_GRAPH',
      `${node.opType} "${nodeName(node)}" multiplies an activation of shape [${act.shape}]: only one row (batch 1) is supported`,
      nodeName(node),
    );
  }
  return act.shape.at(-1)!;
}

function transpose(t: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = t[r * cols + c];
  return out;
}

export const LINEAR_HANDLERS: Record<string, Handler> = {
  Gemm(L, node, act, [b, c]) {
    if (attrInt(node, 'transA', 0) !== 0)
      throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `Gemm "${nodeName(node)}" with transA is not supported`, nodeName(node));
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
    if (B.shape.length !== 2)
      throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `MatMul "${nodeName(node)}" needs a 2-d constant right operand`, nodeName(node));
    const K = rowLength(node, act);
    if (B.shape[0] !== K)
      throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `MatMul "${nodeName(node)}": input has ${K} features, weights expect ${B.shape[0]}`, nodeName(node));
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
  Neg(L, node, act) {
    const n = size(act.shape);
    L.reserveLayer(node, n, n, 2 * n);
    L.emit(node, diag(nodeName(node), new Float64Array(n).fill(-1), new Float64Array(n), [nodeName(node)]), act.shape);
  },
};
