import { ZkinferError } from '../../../core/errors.ts';
import { attrFloat, attrInt } from '../../onnx/attributes.ts';
import { broadcastTo } from '../broadcast.ts';
import type { Handler } from '../context.ts';
import { nodeName, size } from '../values.ts';

/** Elementwise activations: Relu, LeakyRelu, PRelu, Clip, and Sigmoid / Softmax (a head when they end the chain). */

export const ACTIVATION_HANDLERS: Record<string, Handler> = {
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
      throw new ZkinferError(
        'MODEL_UNSUPPORTED_GRAPH',
        `Softmax "${nodeName(node)}" over axis ${axis} of shape [${act.shape}]: only a softmax over the whole feature vector is supported`,
        nodeName(node),
      );
    }
    if (!L.whole(act)) {
      throw new ZkinferError(
        'MODEL_UNSUPPORTED_GRAPH',
        `Softmax "${nodeName(node)}" is read by more than one node or computed on a branch: Softmax is supported only as the last op`,
        nodeName(node),
      );
    }
    L.pendingHead = { op: 'softmax', node: nodeName(node), size: size(act.shape) };
    L.setAct(node, act.shape);
  },
};
