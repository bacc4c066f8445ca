import { ZkinferError } from '../core/errors.ts';
import type { MulLayer } from '../model/ir.ts';
import { FIELD_ORDER } from '../fixed/field.ts';
import { activationBits } from '../fixed/settings.ts';
import { checkWidth, floorShift } from './common.ts';
import { emitCopies, ind, list } from './emit.ts';
import type { LayerModule } from './layer.ts';

/** Output k: x[a[k]] * x[b[k]] rescaled by 2^s (rounded to nearest), or x[a[k]] where b[k] is -1. */
export interface QMul {
  kind: 'mul';
  name: string;
  inSize: number;
  outSize: number;
  a: number[];
  b: number[];
}

/** Per output, 1 for a product (rescaled: its sign digit is known), 0 for a carried value. */
export interface MulShape {
  products: Uint8Array;
}

const mulShape = (layer: { b: ArrayLike<number> }): MulShape => ({ products: Uint8Array.from(layer.b, (b) => (b >= 0 ? 1 : 0)) });

export const mul: LayerModule<MulLayer, QMul, MulShape> = {
  kind: 'mul',
  qkind: 'mul',
  privacy: 'architecture',
  evalFloat: (layer, x) => Float64Array.from(layer.a, (a, k) => (layer.b[k] < 0 ? x[a] : x[a] * x[layer.b[k]])),
  quantize: (layer) => ({ kind: 'mul', name: layer.name, inSize: layer.inSize, outSize: layer.outSize, a: Array.from(layer.a), b: Array.from(layer.b) }),
  checkWrap(layer, { settings }) {
    const w = BigInt(activationBits(settings));
    if (2n * w >= BigInt(FIELD_ORDER.toString(2).length - 2)) {
      throw new ZkinferError(
        'FIELD_OVERFLOW',
        `${layer.name}: a product of two ${w}-bit activations could wrap around the field; lower the bit width`,
        layer.name,
      );
    }
  },
  reference(layer, x, st) {
    // Rounded to nearest: (x_a * x_b + 2^(s-1)) >> s, which must fit the activation width.
    const s = st.scaleBits;
    const w = activationBits(st);
    const half = 1n << BigInt(s - 1);
    return layer.a.map((a, k) => {
      if (layer.b[k] < 0) return x[a];
      const p = x[a] * x[layer.b[k]] + half;
      checkWidth(p, w + s, `${layer.name}[${k}]`);
      return floorShift(p, s);
    });
  },
  shape: mulShape,
  qshape: mulShape,
  count({ products }, env) {
    const N = activationBits(env.settings) + env.settings.scaleBits;
    const p = products.reduce((a, v) => a + v, 0);
    return { constraints: p * (1 + N), formula: `${p} x (1 + ${N})`, known: products };
  },
  /**
   * The product of two activations per output (a quadratic constraint), rescaled by 2^s
   * with rounding and range-checked to the activation width; outputs that carry a value
   * (b = -1) take it as it is.
   */
  emit(layer, _shape, cur, ctx) {
    const s = ctx.q.settings.scaleBits;
    const N = activationBits(ctx.q.settings) + s;
    const t = `l${ctx.index}`;
    const prods: number[] = [];
    const carried: number[] = [];
    layer.b.forEach((b, k) => (b >= 0 ? prods : carried).push(k));
    const p = prods.length;
    ctx.lines.push(
      `${ind}// ${layer.name}: ${p} products of two activations, each rescaled by 2^${s} ` +
        `(rounded)${carried.length ? `, ${carried.length} values carried` : ''}`,
      `${ind}signal ${t}[${layer.outSize}];`,
    );
    if (p > 0) {
      ctx.lines.push(
        `${ind}var ${t}K[${p}] = ${list(prods)};`,
        `${ind}var ${t}A[${p}] = ${list(prods.map((k) => layer.a[k]))};`,
        `${ind}var ${t}B[${p}] = ${list(prods.map((k) => layer.b[k]))};`,
        `${ind}signal ${t}P[${p}];`,
        `${ind}component ${t}Rs[${p}];`,
        `${ind}signal ${t}Pos[${p}];`,
        `${ind}for (var k = 0; k < ${p}; k++) {`,
        `${ind}${ind}${t}P[k] <== ${cur.values}[${t}A[k]] * ${cur.values}[${t}B[k]];`,
        `${ind}${ind}${t}Rs[k] = Rescale(${N}, ${s});`,
        `${ind}${ind}${t}Rs[k].in <== ${t}P[k] + ${1n << BigInt(s - 1)};`,
        `${ind}${ind}${t}[${t}K[k]] <== ${t}Rs[k].out;`,
        `${ind}${ind}${t}Pos[k] <== ${t}Rs[k].pos;`,
        `${ind}}`,
      );
    }
    if (carried.length > 0)
      emitCopies(
        t,
        carried,
        carried.map((k) => layer.a[k]),
        cur,
        ctx,
      );
    const posIdx = new Int32Array(layer.outSize).fill(-1);
    prods.forEach((k, i) => (posIdx[k] = i));
    return { values: t, pos: p > 0 ? `${t}Pos` : null, size: layer.outSize, ...(carried.length ? { posIdx } : {}) };
  },
};
