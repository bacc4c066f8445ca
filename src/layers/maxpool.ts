import type { MaxPoolLayer } from '../model/ir.ts';
import { activationBits } from '../fixed/settings.ts';
import { ind, list } from './emit.ts';
import { allKnown, type LayerModule, noneKnown } from './layer.ts';

/** Output j is the max of x[idx[rowPtr[j] .. rowPtr[j + 1])]. */
export interface QMaxPool {
  kind: 'maxpool';
  name: string;
  inSize: number;
  outSize: number;
  rowPtr: number[];
  idx: number[];
}

/** What a max pool's count depends on: its pairwise comparisons. */
export interface MaxPoolShape {
  outSize: number;
  pairs: number;
}

export const maxpool: LayerModule<MaxPoolLayer, QMaxPool, MaxPoolShape> = {
  kind: 'maxpool',
  qkind: 'maxpool',
  privacy: 'architecture',
  evalFloat(layer, x) {
    const y = new Float64Array(layer.outSize);
    for (let j = 0; j < layer.outSize; j++) {
      let m = -Infinity;
      for (let k = layer.rowPtr[j]; k < layer.rowPtr[j + 1]; k++) m = Math.max(m, x[layer.idx[k]]);
      y[j] = m;
    }
    return y;
  },
  quantize: (layer) => ({
    kind: 'maxpool',
    name: layer.name,
    inSize: layer.inSize,
    outSize: layer.outSize,
    rowPtr: Array.from(layer.rowPtr),
    idx: Array.from(layer.idx),
  }),
  reference(layer, x) {
    // The circuit may take the max of the accumulators before their rescale: the floor
    // division is nondecreasing, so the result is the same.
    const out: bigint[] = [];
    for (let j = 0; j < layer.outSize; j++) {
      let m = x[layer.idx[layer.rowPtr[j]]];
      for (let k = layer.rowPtr[j] + 1; k < layer.rowPtr[j + 1]; k++) if (x[layer.idx[k]] > m) m = x[layer.idx[k]];
      out.push(m);
    }
    return out;
  },
  shape: (layer) => ({ outSize: layer.outSize, pairs: layer.idx.length - layer.outSize }),
  qshape: (layer) => ({ outSize: layer.outSize, pairs: layer.idx.length - layer.outSize }),
  count({ outSize, pairs }, env) {
    // Width of the compared values: accumulators of the layer before (then rescaled here), or activations.
    const w = activationBits(env.settings);
    if (env.pooled === undefined) return { constraints: pairs * (w + 2), formula: `${pairs} x (${w} + 2)`, known: noneKnown(outSize) };
    const N = w + env.pooled;
    return { constraints: pairs * (N + 2) + outSize * N, formula: `${pairs} x (${N} + 2) + ${outSize} x ${N}`, known: allKnown(outSize) };
  },
  emit(layer, { pairs }, cur, ctx) {
    const w = activationBits(ctx.q.settings);
    const t = `l${ctx.index}`;
    const pooled = cur.acc !== undefined;
    // Width of the compared values: accumulators of the layer before, or activations.
    const N = pooled ? w + cur.acc! : w;
    ctx.lines.push(
      `${ind}// ${layer.name}: max pool ${layer.inSize} -> ${layer.outSize}, ${pairs} pairwise comparisons of ${N}-bit ` +
        `values${pooled ? `, then rescale by 2^${cur.acc}` : ''}`,
      `${ind}var ${t}R[${layer.outSize + 1}] = ${list(layer.rowPtr)};`,
      `${ind}var ${t}I[${layer.idx.length}] = ${list(layer.idx)};`,
    );
    const src = pairs > 0 ? `${t}Max.out` : `${t}Pick`;
    if (pairs > 0) {
      ctx.lines.push(
        `${ind}component ${t}Max = MaxPoolConst(${layer.inSize}, ${layer.outSize}, ${layer.idx.length}, ${N}, ${t}R, ${t}I);`,
        `${ind}${t}Max.in <== ${cur.values};`,
      );
    } else {
      // Every window is one value: a selection, no constraint.
      ctx.lines.push(
        `${ind}signal ${t}Pick[${layer.outSize}];`,
        `${ind}for (var j = 0; j < ${layer.outSize}; j++) {`,
        `${ind}${ind}${t}Pick[j] <== ${cur.values}[${t}I[j]];`,
        `${ind}}`,
      );
    }
    if (!pooled) return { values: src, pos: null, size: layer.outSize };
    ctx.lines.push(
      `${ind}component ${t}Rs[${layer.outSize}];`,
      `${ind}signal ${t}[${layer.outSize}];`,
      `${ind}signal ${t}Pos[${layer.outSize}];`,
      `${ind}for (var j = 0; j < ${layer.outSize}; j++) {`,
      `${ind}${ind}${t}Rs[j] = Rescale(${N}, ${cur.acc});`,
      `${ind}${ind}${t}Rs[j].in <== ${src}[j];`,
      `${ind}${ind}${t}[j] <== ${t}Rs[j].out;`,
      `${ind}${ind}${t}Pos[j] <== ${t}Rs[j].pos;`,
      `${ind}}`,
    );
    return { values: t, pos: `${t}Pos`, size: layer.outSize };
  },
};
