import type { ConvStructure, MaxPoolLayer, SparseLayer } from '../../ir.ts';
import { attrFloat, attrInt, attrInts, attrString } from '../../onnx/attributes.ts';
import type { NodeProto } from '../../onnx/file.ts';
import type { Handler, Lowering } from '../context.ts';
import { convTermCount, csrFromConv } from '../conv-structure.ts';
import { type Activation, nodeName } from '../values.ts';
import {
  assemble,
  convTaps,
  type DimTaps,
  dimTaps,
  type Geometry,
  geometry,
  listAttr,
  positions,
  prod,
  refuse,
  spatialOf,
  tapCount,
  windowOf,
} from '../windows.ts';

/**
 * Convolutions and pooling on NCHW activations (batch 1; 1, 2 or more spatial
 * dimensions), lowered to constant sparse linear maps (Conv, ConvTranspose,
 * AveragePool, GlobalAveragePool, Pad) or to a max-pool layer (MaxPool,
 * GlobalMaxPool). Each output's terms are listed once, only where they touch the
 * input (padding contributes nothing), so memory and the circuit grow with the
 * nonzeros; their count is computed from the shapes, and checked against the limits,
 * before anything is allocated. Semantics follow the ONNX operator spec and are
 * checked against onnxruntime (test/model/conv.test.ts).
 */

export const CONV_OPS = ['Conv', 'ConvTranspose', 'AveragePool', 'GlobalAveragePool', 'MaxPool', 'GlobalMaxPool', 'Pad'];

const AUTO_PADS = ['NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID'];

/**
 * Why a Conv / pooling / Pad node is refused, from its attributes alone (null: it may be
 * lowered), so that every refused node of a graph is named at once.
 */
export function convRefusal(node: NodeProto): string | null {
  const op = node.opType ?? '';
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  if (['Conv', 'ConvTranspose', 'AveragePool', 'MaxPool'].includes(op) && !AUTO_PADS.includes(autoPad))
    return `auto_pad "${autoPad}" is not an ONNX padding mode`;
  if ((autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') && (attrInts(node, 'dilations') ?? []).some((d) => d !== 1)) {
    return `auto_pad = ${autoPad} with dilations is not supported (onnxruntime refuses it too; give explicit pads)`;
  }
  if (op === 'ConvTranspose') {
    if (attrInts(node, 'output_shape')) return 'attribute output_shape is not supported (give pads and output_padding instead)';
    if (autoPad !== 'NOTSET' && autoPad !== 'VALID') return `attribute auto_pad = ${autoPad} is not supported (give explicit pads)`;
  }
  if ((op === 'MaxPool' || op === 'GlobalMaxPool') && (node.output ?? []).length > 1 && node.output![1]) return 'the Indices output is not supported';
  if (op === 'Pad') {
    const mode = attrString(node, 'mode', 'constant');
    if (!['constant', 'edge', 'reflect'].includes(mode)) return `mode "${mode}" is not supported (constant, edge, reflect)`;
  }
  return null;
}

function emitSparse(L: Lowering, node: NodeProto, layer: SparseLayer, shape: number[]): void {
  L.emit(node, layer, shape);
}

/** A 1D or 2D convolution with its structure; the terms are counted before they are built. */
function emitConv(L: Lowering, node: NodeProto, c: ConvStructure, bias: (m: number) => number, shape: number[]): void {
  const [M, OH, OW] = c.outShape;
  const outSize = M * OH * OW;
  L.reserveLayer(node, c.inShape[0] * c.inShape[1] * c.inShape[2], outSize, convTermCount(c) + outSize);
  const b = Float64Array.from({ length: outSize }, (_, o) => bias(Math.floor(o / (OH * OW))));
  const name = nodeName(node);
  L.emit(node, csrFromConv(c, b, name, [name]), shape);
}

function convLike(L: Lowering, node: NodeProto, act: Activation, transposed: boolean): void {
  const { C, spatial } = spatialOf(node, act);
  const W = L.required(node, 1, 'the weights W');
  const B = node.input?.[2] ? L.required(node, 2, 'the bias B') : undefined;
  const n = spatial.length;
  const group = attrInt(node, 'group', 1);
  if (W.shape.length !== n + 2) throw refuse(node, `weights of shape [${W.shape}] do not fit an input of shape [${act.shape}]`);
  const kernel = attrInts(node, 'kernel_shape') ?? W.shape.slice(2);
  if (kernel.join() !== W.shape.slice(2).join()) throw refuse(node, `attribute kernel_shape = [${kernel}] differs from the weights' [${W.shape.slice(2)}]`);
  if (!(group >= 1) || C % group !== 0) throw refuse(node, `attribute group = ${group} does not divide the ${C} input channels`);
  const Cg = C / group;
  const kSize = prod(kernel);
  let M: number;
  let Mg: number;
  let taps: DimTaps[];
  let outSpatial: number[];
  if (!transposed) {
    M = W.shape[0];
    if (W.shape[1] !== Cg || M % group !== 0) throw refuse(node, `weights of shape [${W.shape}] do not fit ${C} input channels in ${group} groups`);
    Mg = M / group;
    const g = geometry(node, spatial, kernel);
    outSpatial = g.outSpatial;
    taps = convTaps(L, node, g, spatial);
  } else {
    if (W.shape[0] !== C) throw refuse(node, `weights of shape [${W.shape}] do not fit ${C} input channels`);
    Mg = W.shape[1];
    M = Mg * group;
    const strides = listAttr(node, 'strides', n, 1);
    const dilations = listAttr(node, 'dilations', n, 1);
    const pads = listAttr(node, 'pads', 2 * n, 0);
    const outPad = listAttr(node, 'output_padding', n, 0);
    if (
      strides.some((s) => s < 1) ||
      dilations.some((s) => s < 1) ||
      pads.some((p) => p < 0) ||
      outPad.some((p, d) => p < 0 || p >= Math.max(strides[d], dilations[d]))
    ) {
      throw refuse(node, `strides [${strides}], dilations [${dilations}], pads [${pads}] or output_padding [${outPad}] out of range`);
    }
    outSpatial = spatial.map((x, d) => strides[d] * (x - 1) + outPad[d] + (kernel[d] - 1) * dilations[d] + 1 - pads[d] - pads[n + d]);
    if (outSpatial.some((o) => o < 1)) throw refuse(node, `the output would be empty ([${outSpatial}])`);
    // Output o receives input i through kernel offset kk when i * s - pb + kk * d = o.
    taps = spatial.map((x, d) =>
      dimTaps(L, node, outSpatial[d], kernel[d], (o, kk) => {
        const t = o + pads[d] - kk * dilations[d];
        if (t < 0 || t % strides[d] !== 0) return -1;
        const i = t / strides[d];
        return i < x ? i : -1;
      }),
    );
  }
  if (B && B.data.length !== M) throw refuse(node, `bias of ${B.data.length} values for ${M} output channels`);
  const chanList = (m: number) => {
    const g = Math.floor(m / Mg);
    return Array.from({ length: Cg }, (_, c) => g * Cg + c);
  };
  const weight = transposed
    ? (m: number, c: number, kk: number) => W.data[(c * Mg + (m % Mg)) * kSize + kk]
    : (m: number, c: number, kk: number) => W.data[(m * Cg + (c % Cg)) * kSize + kk];
  if (!transposed && n <= 2) {
    // 1D and 2D: the layer keeps its kernel, for a compact circuit.
    const g = geometry(node, spatial, kernel);
    const two = <T>(v: T[], one: T): [T, T] => (n === 2 ? [v[0], v[1]] : [one, v[0]]);
    const structure: ConvStructure = {
      inShape: [C, ...two(spatial, 1)],
      outShape: [M, ...two(outSpatial, 1)],
      kernel: two(kernel, 1),
      strides: two(g.strides, 1),
      dilations: two(g.dilations, 1),
      pads: two(g.padsBegin, 0),
      group,
      weights: Float64Array.from(W.data),
    };
    emitConv(L, node, structure, (m) => (B ? B.data[m] : 0), [1, M, ...outSpatial]);
    return;
  }
  const layer = assemble(L, node, C, spatial, M, outSpatial, taps, kernel, Cg, chanList, weight, (m) => (B ? B.data[m] : 0));
  emitSparse(L, node, layer, [1, M, ...outSpatial]);
}

/** The pool window: kernel_shape (required) or the whole input for the Global ops. */
function poolGeometry(node: NodeProto, spatial: number[], global: boolean): Geometry {
  if (global)
    return {
      kernel: spatial,
      strides: spatial.map(() => 1),
      dilations: spatial.map(() => 1),
      padsBegin: spatial.map(() => 0),
      padsEnd: spatial.map(() => 0),
      outSpatial: spatial.map(() => 1),
    };
  const kernel = attrInts(node, 'kernel_shape');
  if (!kernel) throw refuse(node, 'attribute kernel_shape is missing');
  return geometry(node, spatial, kernel);
}

function averagePool(L: Lowering, node: NodeProto, act: Activation, global: boolean): void {
  const { C, spatial } = spatialOf(node, act);
  const g = poolGeometry(node, spatial, global);
  const taps = convTaps(L, node, g, spatial);
  const includePad = !global && attrInt(node, 'count_include_pad', 0) === 1;
  // With count_include_pad the divisor counts the window's positions inside the padded
  // input (a ceil-mode window hanging past the end padding is cut there).
  const padded = spatial.map((x, d) =>
    Array.from({ length: g.outSpatial[d] }, (_, o) => {
      let c = 0;
      for (let kk = 0; kk < g.kernel[d]; kk++) {
        const i = o * g.strides[d] - g.padsBegin[d] + kk * g.dilations[d];
        if (i >= -g.padsBegin[d] && i < x + g.padsEnd[d]) c++;
      }
      return c;
    }),
  );
  const outSpatial = g.outSpatial;
  // Without count_include_pad the divisor is the number of taps inside the input.
  const layer = assemble(
    L,
    node,
    C,
    spatial,
    C,
    outSpatial,
    taps,
    g.kernel,
    1,
    (m) => [m],
    (_m, _c, _kk, window) => 1 / window,
    () => 0,
  );
  if (includePad) {
    // Rewrite each row's weights as 1 / (window positions inside the padded input).
    const per = [...positions(outSpatial)].map((p) => p.reduce((a, o, d) => a * padded[d][o], 1));
    for (let r = 0; r < layer.outSize; r++) {
      const v = 1 / per[r % per.length];
      for (let k = layer.rowPtr[r]; k < layer.rowPtr[r + 1]; k++) layer.vals[k] = v;
    }
  }
  const K = prod(g.kernel);
  if (spatial.length <= 2 && layer.vals.every((v) => v === 1 / K)) {
    // Every window divides by the full kernel size: a depthwise convolution, kept as one.
    const n = spatial.length;
    const two = <T>(v: T[], one: T): [T, T] => (n === 2 ? [v[0], v[1]] : [one, v[0]]);
    const structure: ConvStructure = {
      inShape: [C, ...two(spatial, 1)],
      outShape: [C, ...two(outSpatial, 1)],
      kernel: two(g.kernel, 1),
      strides: two(g.strides, 1),
      dilations: two(g.dilations, 1),
      pads: two(g.padsBegin, 0),
      group: C,
      weights: new Float64Array(C * K).fill(1 / K),
    };
    emitConv(L, node, structure, () => 0, [1, C, ...outSpatial]);
    return;
  }
  emitSparse(L, node, layer, [1, C, ...outSpatial]);
}

function maxPool(L: Lowering, node: NodeProto, act: Activation, global: boolean): void {
  const { C, spatial } = spatialOf(node, act);
  const g = poolGeometry(node, spatial, global);
  const taps = convTaps(L, node, g, spatial);
  const inSize = C * prod(spatial);
  const outSize = C * prod(g.outSpatial);
  const terms = C * tapCount(taps);
  L.reserveLayer(node, inSize, outSize, terms);
  const rowPtr = new Int32Array(outSize + 1);
  const idx = new Int32Array(terms);
  const inSpatial = prod(spatial);
  let n = 0;
  let row = 0;
  for (let c = 0; c < C; c++) {
    for (const pos of positions(g.outSpatial)) {
      const w = windowOf(taps, pos, g.kernel, spatial);
      if (w.src.length === 0) throw refuse(node, `a window at output position [${pos}] covers only padding`);
      for (const s of w.src) idx[n++] = c * inSpatial + s;
      rowPtr[++row] = n;
    }
  }
  const name = nodeName(node);
  const layer: MaxPoolLayer = { kind: 'maxpool', name, inSize, outSize, rowPtr, idx, nodes: [name] };
  L.emit(node, layer, [1, C, ...g.outSpatial]);
}

/** Pad (constant value, edge or reflect): each output is one input or the constant. */
function pad(L: Lowering, node: NodeProto, act: Activation): void {
  const rank = act.shape.length;
  let pads: number[];
  let value = 0;
  let axes: number[] | undefined;
  if (L.opset < 11) {
    pads = attrInts(node, 'pads') ?? [];
    value = attrFloat(node, 'value', 0);
  } else {
    pads = Array.from(L.required(node, 1, 'the pads').data);
    const v = node.input?.[2] ? L.constant(node, 2, 'the constant value') : undefined;
    if (v) value = v.data[0] ?? 0;
    const a = node.input?.[3] ? L.constant(node, 3, 'the axes') : undefined;
    if (a) axes = Array.from(a.data, (x) => (x < 0 ? x + rank : x));
  }
  const ax = axes ?? Array.from({ length: rank }, (_, i) => i);
  if (pads.length !== 2 * ax.length) throw refuse(node, `pads [${pads}] do not give a begin and an end for each of ${ax.length} axes`);
  const begin = Array(rank).fill(0);
  const end = Array(rank).fill(0);
  ax.forEach((a, i) => {
    begin[a] = pads[i];
    end[a] = pads[ax.length + i];
  });
  if (begin[0] !== 0 || end[0] !== 0) throw refuse(node, 'padding the batch dimension is not supported');
  const mode = attrString(node, 'mode', 'constant');
  const inShape = act.shape;
  const outShape = inShape.map((d, i) => d + begin[i] + end[i]);
  if (outShape.some((d) => d < 1)) throw refuse(node, `the output shape [${outShape}] is empty`);
  if (mode !== 'constant' && inShape.some((d, i) => (begin[i] > 0 || end[i] > 0) && (mode === 'reflect' ? d < 2 || begin[i] >= d || end[i] >= d : d < 1))) {
    throw refuse(node, `mode ${mode} cannot pad [${inShape}] by [${pads}]`);
  }
  const inSize = prod(inShape);
  const outSize = prod(outShape);
  L.reserveLayer(node, inSize, outSize, 2 * outSize);
  const strides = inShape.map((_, i) => prod(inShape.slice(i + 1)));
  const rowPtr = new Int32Array(outSize + 1);
  const cols = new Int32Array(outSize);
  const bias = new Float64Array(outSize);
  let n = 0;
  let row = 0;
  for (const pos of positions(outShape)) {
    let src = 0;
    let inside = true;
    for (let d = 0; d < rank; d++) {
      let i = pos[d] - begin[d];
      const len = inShape[d];
      if (i < 0 || i >= len) {
        if (mode === 'constant') {
          inside = false;
          break;
        }
        if (mode === 'edge') i = i < 0 ? 0 : len - 1;
        else i = i < 0 ? -i : 2 * (len - 1) - i;
      }
      src += i * strides[d];
    }
    if (inside) cols[n++] = src;
    else bias[row] = value;
    rowPtr[++row] = n;
  }
  const name = nodeName(node);
  const layer: SparseLayer = { kind: 'sparse', name, inSize, outSize, rowPtr, cols: cols.slice(0, n), vals: new Float64Array(n).fill(1), bias, nodes: [name] };
  L.emit(node, layer, outShape);
}

export const CONV_HANDLERS: Record<string, Handler> = {
  Conv: (L, node, act) => convLike(L, node, act, false),
  ConvTranspose: (L, node, act) => convLike(L, node, act, true),
  AveragePool: (L, node, act) => averagePool(L, node, act, false),
  GlobalAveragePool: (L, node, act) => averagePool(L, node, act, true),
  MaxPool: (L, node, act) => maxPool(L, node, act, false),
  GlobalMaxPool: (L, node, act) => maxPool(L, node, act, true),
  Pad: pad,
};
