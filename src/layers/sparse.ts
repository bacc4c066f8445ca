import type { ConvStructure, SparseLayer } from '../model/ir.ts';
import { activationBits } from '../fixed/settings.ts';
import { checkWidth, floorShift, toFixed } from './common.ts';
import { ind, list } from './emit.ts';
import type { LayerModule } from './layer.ts';
import {
  checkLinearWrap,
  emitPrivateLinear,
  emitRescale,
  linearCount,
  type LinearShape,
  linearShape,
  type QLinear,
  qlinearShape,
  quantizeLinear,
  weightShift,
} from './linear.ts';

/** As dense, with the weights of row j at `weights[rowPtr[j] .. rowPtr[j + 1])`, on inputs `cols[...]`. */
export interface QSparse extends QLinear {
  kind: 'sparse';
  rowPtr: number[];
  cols: number[];
  /** The convolution the terms come from (its kernel quantized alike), for a compact circuit. */
  conv?: Omit<ConvStructure, 'weights'> & { weights: bigint[] };
}

export const sparse: LayerModule<SparseLayer, QSparse, LinearShape> = {
  kind: 'sparse',
  qkind: 'sparse',
  evalFloat(layer, x) {
    const y = Float64Array.from(layer.bias);
    for (let j = 0; j < layer.outSize; j++) {
      let acc = y[j];
      for (let k = layer.rowPtr[j]; k < layer.rowPtr[j + 1]; k++) acc += layer.vals[k] * x[layer.cols[k]];
      y[j] = acc;
    }
    return y;
  },
  absorbScales(layer, factor) {
    // Per-feature factors break the kernel's sharing: the terms are listed as they are.
    const vals = Float64Array.from(layer.vals, (v, k) => v * factor(layer.cols[k]));
    const { conv: _conv, ...rest } = layer;
    return { ...rest, vals };
  },
  quantize(layer, ctx) {
    const lin = quantizeLinear(layer.name, layer.vals, layer.bias, ctx.settings.scaleBits);
    const t = lin.shift;
    return {
      kind: 'sparse',
      name: layer.name,
      inSize: layer.inSize,
      outSize: layer.outSize,
      rowPtr: Array.from(layer.rowPtr),
      cols: Array.from(layer.cols),
      ...lin,
      ...(layer.conv ? { conv: { ...layer.conv, weights: Array.from(layer.conv.weights, (v, i) => toFixed(v, t, `${layer.name}.kernel[${i}]`)) } } : {}),
    };
  },
  checkWrap: checkLinearWrap,
  reference(layer, x, st) {
    const w = activationBits(st);
    const out: bigint[] = [];
    for (let j = 0; j < layer.outSize; j++) {
      let acc = layer.bias[j];
      for (let k = layer.rowPtr[j]; k < layer.rowPtr[j + 1]; k++) acc += layer.weights[k] * x[layer.cols[k]];
      checkWidth(acc, w + layer.shift, `${layer.name}[${j}]`);
      out.push(floorShift(acc, layer.shift));
    }
    return out;
  },
  shape: (layer, ctx) => linearShape(layer, weightShift(layer.vals, ctx.settings.scaleBits), ctx, null),
  qshape: (layer, ctx) => qlinearShape(layer, ctx),
  count: linearCount,
  privacy: 'parameters',
  emit(layer, shape, cur, ctx) {
    const t = `l${ctx.index}`;
    const nnz = layer.weights.length;
    const c = layer.conv;
    if (ctx.params) {
      // Which inputs each output reads (the sparsity pattern, a convolution's geometry) is architecture; the weights are not.
      ctx.lines.push(
        `${ind}// ${layer.name}: sparse linear ${layer.inSize} -> ${layer.outSize} (${nnz} terms), private weights at ` +
          `scale 2^${layer.shift} (one product each), then rescale by 2^${layer.shift}`,
        `${ind}var ${t}R[${layer.outSize + 1}] = ${list(layer.rowPtr)};`,
        `${ind}var ${t}C[${Math.max(1, nnz)}] = ${list(nnz ? layer.cols : [0])};`,
      );
      emitPrivateLinear(layer, t, 'SparsePrivate', [layer.inSize, layer.outSize, Math.max(1, nnz), `${t}R`, `${t}C`], cur, ctx, false);
      return emitRescale(shape, t, ctx, cur);
    }
    if (c) {
      ctx.lines.push(
        `${ind}// ${layer.name}: convolution [${c.inShape}] -> [${c.outShape}], kernel ${c.kernel.join('x')}, strides ${c.strides.join('x')}, ` +
          (`dilations ${c.dilations.join('x')}, pads ${c.pads.join('x')}, group ${c.group} (${nnz} terms), weights at scale ` +
            `2^${layer.shift}, then rescale by 2^${layer.shift}`),
        `${ind}var ${t}K[${c.weights.length}] = ${list(c.weights)};`,
        `${ind}var ${t}B[${layer.outSize}] = ${list(layer.bias)};`,
        `${ind}component ${t}Mul = ` +
          `ConvConst(${[...c.inShape, ...c.outShape, ...c.kernel, ...c.strides, ...c.dilations, ...c.pads, c.group].join(', ')}, ` +
          `${t}K, ${t}B);`,
        `${ind}${t}Mul.in <== ${cur.values};`,
      );
      return emitRescale(shape, t, ctx, cur);
    }
    ctx.lines.push(
      `${ind}// ${layer.name}: sparse linear ${layer.inSize} -> ${layer.outSize} (${nnz} terms), constant weights at ` +
        `scale 2^${layer.shift}, then rescale by 2^${layer.shift}`,
      `${ind}var ${t}R[${layer.outSize + 1}] = ${list(layer.rowPtr)};`,
      `${ind}var ${t}C[${Math.max(1, nnz)}] = ${list(nnz ? layer.cols : [0])};`,
      `${ind}var ${t}W[${Math.max(1, nnz)}] = ${list(nnz ? layer.weights : [0n])};`,
      `${ind}var ${t}B[${layer.outSize}] = ${list(layer.bias)};`,
      `${ind}component ${t}Mul = SparseConst(${layer.inSize}, ${layer.outSize}, ${Math.max(1, nnz)}, ${t}R, ${t}C, ${t}W, ${t}B);`,
      `${ind}${t}Mul.in <== ${cur.values};`,
    );
    return emitRescale(shape, t, ctx, cur);
  },
};
