import { ZkinferError } from '../core/errors.ts';
import { TREE_LEAF, TREE_MODES, type TreeEnsembleLayer, type TreeMode } from '../model/ir.ts';
import { firstLayerInput } from '../fixed/input-quant.ts';
import { activationBits } from '../fixed/settings.ts';
import { comparisonCost, IND_ONE, IND_VAR, IND_ZERO, nodeTest, planTrees, treeShift, type TreePlan } from './tree-plan.ts';
import {
  emitPrivateTrees,
  type PrivateTreeShape,
  privateTest,
  privateTests,
  privateTreeCount,
  privateTreeShape,
  type QTreePrivate,
  quantizePrivateTrees,
} from './tree-private.ts';
import { checkWidth, floorShift, toFixed } from './common.ts';
import { type Cursor, type EmitContext, ind } from './emit.ts';
import { allKnown, type LayerModule } from './layer.ts';

/** Which way node `i` goes for the float input x (onnxruntime's comparisons). */
export function treeTest(mode: number, x: number, t: number): boolean {
  switch (TREE_MODES[mode] as TreeMode) {
    case 'BRANCH_LEQ':
      return x <= t;
    case 'BRANCH_LT':
      return x < t;
    case 'BRANCH_GTE':
      return x >= t;
    case 'BRANCH_GT':
      return x > t;
    case 'BRANCH_EQ':
      return x === t;
    case 'BRANCH_NEQ':
      return x !== t;
  }
}

/**
 * The float ensemble (the lowering's own check against onnxruntime), comparing the
 * features in float32 as onnxruntime's float kernel does (0.123 is not a float32: a
 * threshold at float32(0.123) splits it differently in float64).
 */
export function evalTreesFloat(layer: TreeEnsembleLayer, x: Float64Array): Float64Array {
  const y = Float64Array.from(layer.base);
  for (const root of layer.roots) {
    let i = root;
    while (layer.mode[i] !== TREE_LEAF)
      i = treeTest(layer.mode[i], Math.fround(x[layer.feature[i]]), layer.threshold[i]) ? layer.trueChild[i] : layer.falseChild[i];
    for (let j = 0; j < layer.outSize; j++) y[j] += layer.leafWeights[i * layer.outSize + j];
  }
  return y;
}

export interface QTreeEnsemble {
  kind: 'tree_ensemble';
  name: string;
  inSize: number;
  outSize: number;
  /** Extra fractional bits e of the leaf weights; the sum is rescaled by 2^e. */
  shift: number;
  /** Comparison bits and path indicators (see tree-plan.ts); absent in a private model. */
  plan?: TreePlan;
  /** In a private model: each node's test and threshold, the feature widths (see tree-private.ts). */
  priv?: QTreePrivate;
  roots: Int32Array;
  /** Per internal node its children; -1 for a leaf. */
  trueChild: Int32Array;
  falseChild: Int32Array;
  /** round(w * 2^(s+e)) per node and output (row-major, nodes x outSize), 0 for internal nodes. */
  leafWeights: bigint[];
  /** round(base * 2^(s+e)) + 2^(e-1) (so the floor of the rescale rounds to nearest; + 0 when e = 0). */
  bias: bigint[];
}

/** What a tree ensemble's count depends on: its comparisons and path products (or its private tests), and the rescale. */
export interface TreeShape {
  outSize: number;
  shift: number;
  plan?: TreePlan;
  priv?: PrivateTreeShape;
}

/**
 * A tree ensemble's output is base + one leaf per tree: it lies between base + the sum of
 * each tree's smallest leaf and base + the sum of the largest. Both must fit the rescale
 * (w + e bits), so no input can make the sum unprovable (and it is far from wrapping).
 */
function checkTreeRange(q: QTreeEnsemble, w: number, s: number): void {
  const lim = 1n << BigInt(w + q.shift - 1);
  for (let j = 0; j < q.outSize; j++) {
    let lo = q.bias[j];
    let hi = q.bias[j];
    for (const r of q.roots) {
      let min: bigint | null = null;
      let max: bigint | null = null;
      const stack = [r];
      while (stack.length) {
        const i = stack.pop()!;
        if (q.trueChild[i] >= 0) {
          stack.push(q.trueChild[i], q.falseChild[i]);
          continue;
        }
        const v = q.leafWeights[i * q.outSize + j];
        if (min === null || v < min) min = v;
        if (max === null || v > max) max = v;
      }
      lo += min ?? 0n;
      hi += max ?? 0n;
    }
    if (lo < -lim || hi >= lim) {
      const unit = 2 ** (s + q.shift);
      throw new ZkinferError(
        'SETTINGS',
        `${q.name}: output ${j} of the tree ensemble can range over [${Number(lo) / unit}, ${Number(hi) / unit}], which ` +
          `does not fit ${w}-bit activations at scale 2^${s}: raise --bits or lower --scale`,
        q.name,
      );
    }
  }
}

/** A private model packs the leaf weights at the accumulator's width (tree-private.ts): each must fit it. */
function checkLeafWidths(q: QTreeEnsemble, w: number): void {
  const lim = 1n << BigInt(w + q.shift - 1);
  const k = q.leafWeights.findIndex((v) => v < -lim || v >= lim);
  if (k >= 0) {
    throw new ZkinferError(
      'SETTINGS',
      `${q.name}: the weight of leaf ${Math.floor(k / q.outSize)} does not fit the ${w + q.shift}-bit accumulator of a private tree ensemble: ` +
        'raise --bits or lower --scale',
      q.name,
    );
  }
}

/**
 * A tree ensemble (see tree-plan.ts): comparison bits per feature (a
 * range-checked difference per threshold, or one thermometer code per feature with 3
 * or more thresholds), one indicator per node that is not constant (a product for a true child
 * below the root, a difference for a false child), the outputs as constant-weighted sums
 * of the leaf indicators, rescaled by 2^e with rounding.
 */
function emitTrees(layer: QTreeEnsemble, cur: Cursor, ctx: EmitContext): Cursor {
  const w = activationBits(ctx.q.settings);
  const t = `l${ctx.index}`;
  if (layer.priv) return emitTreesPrivate({ ...layer, priv: layer.priv }, cur, ctx, t, w + layer.shift);
  const plan = layer.plan!;
  const n = layer.trueChild.length;
  const N = w + layer.shift;
  ctx.lines.push(
    `${ind}// ${layer.name}: tree ensemble, ${layer.roots.length} trees, ${n} nodes, ${plan.bitCount} comparison bits, ` +
      `${plan.products} path products, ${layer.outSize} outputs rescaled by 2^${layer.shift}`,
  );
  if (plan.bitCount > 0) ctx.lines.push(`${ind}signal ${t}Le[${plan.bitCount}];`);
  for (const f of plan.features) {
    const m = f.thresholds.length;
    const x = `${cur.values}[${f.feature}]`;
    if (m <= 2) {
      f.thresholds.forEach((T, j) => {
        const c = `${t}C${f.offset + j}`;
        ctx.lines.push(`${ind}component ${c} = Rescale(${f.bits + 1}, 0);`, `${ind}${c}.in <== ${T} - ${x};`, `${ind}${t}Le[${f.offset + j}] <== ${c}.pos;`);
      });
    } else {
      const c = `${t}F${f.feature}`;
      ctx.lines.push(
        `${ind}var ${c}T[${m}] = [${f.thresholds.join(',')}];`,
        `${ind}component ${c} = TreeBuckets(${m}, ${f.bits}, ${c}T);`,
        `${ind}${c}.in <== ${x};`,
        `${ind}for (var j = 0; j < ${m}; j++) {`,
        `${ind}${ind}${t}Le[${f.offset} + j] <== ${c}.le[j];`,
        `${ind}}`,
      );
    }
  }
  // Indicators: circom variables holding linear expressions (free), a signal only for
  // each product; no linear constraint is generated for circom to simplify away.
  const slot = new Int32Array(n).fill(-1);
  let slots = 0;
  for (let i = 0; i < n; i++) if (plan.indicator[i] === IND_VAR) slot[i] = slots++;
  if (slots > 0) ctx.lines.push(`${ind}var ${t}I[${slots}];`);
  if (plan.products > 0) ctx.lines.push(`${ind}signal ${t}P[${plan.products}];`);
  const test = (i: number): string => {
    const terms: string[] = [];
    if (plan.testConst[i] !== 0) terms.push(String(plan.testConst[i]));
    for (const [b, sgn] of [
      [plan.testA[i], plan.signA[i]],
      [plan.testB[i], plan.signB[i]],
    ]) {
      if (b < 0) continue;
      terms.push(`${sgn < 0 ? '- ' : terms.length ? '+ ' : ''}${t}Le[${b}]`);
    }
    return terms.join(' ');
  };
  const ref = (i: number) => `${t}I[${slot[i]}]`;
  let products = 0;
  const stack = [...layer.roots];
  while (stack.length) {
    const i = stack.pop()!;
    const a = layer.trueChild[i];
    if (a < 0) continue;
    const b = layer.falseChild[i];
    stack.push(a, b);
    const I = plan.indicator[i];
    if (I === IND_ZERO) continue;
    if (plan.testA[i] < 0) {
      // A constant test: the child taken has the parent's indicator.
      const taken = plan.testConst[i] === 1 ? a : b;
      if (I === IND_VAR) ctx.lines.push(`${ind}${ref(taken)} = ${ref(i)};`);
      continue;
    }
    if (I === IND_ONE) {
      ctx.lines.push(`${ind}${ref(a)} = ${test(i)};`, `${ind}${ref(b)} = 1 - ${ref(a)};`);
    } else {
      const p = `${t}P[${products++}]`;
      ctx.lines.push(`${ind}${p} <== ${ref(i)} * (${test(i)});`, `${ind}${ref(a)} = ${p};`, `${ind}${ref(b)} = ${ref(i)} - ${p};`);
    }
  }
  // Outputs: base + sum of leaf weights times indicators (constant-1 leaves fold into the base).
  const bias = layer.bias.slice();
  const leaves: number[] = [];
  for (let i = 0; i < n; i++) {
    if (layer.trueChild[i] >= 0 || plan.indicator[i] === IND_ZERO) continue;
    const ws = layer.leafWeights.slice(i * layer.outSize, (i + 1) * layer.outSize);
    if (ws.every((v) => v === 0n)) continue;
    if (plan.indicator[i] === IND_ONE) ws.forEach((v, j) => (bias[j] += v));
    else leaves.push(i);
  }
  const L = leaves.length;
  const chunk = Math.max(16, Math.ceil(Math.sqrt(L)));
  if (L > 0) {
    ctx.lines.push(`${ind}var ${t}Li[${L}] = [${leaves.map((i) => slot[i]).join(',')}];`);
    const rows = Array.from({ length: layer.outSize }, (_, j) => `[${leaves.map((i) => layer.leafWeights[i * layer.outSize + j]).join(',')}]`);
    ctx.lines.push(`${ind}var ${t}Lw[${layer.outSize}][${L}] = [${rows.join(',\n        ')}];`);
  }
  ctx.lines.push(
    `${ind}var ${t}B[${layer.outSize}] = [${bias.join(',')}];`,
    `${ind}component ${t}Rs[${layer.outSize}];`,
    `${ind}signal ${t}[${layer.outSize}];`,
    `${ind}signal ${t}Pos[${layer.outSize}];`,
    `${ind}for (var j = 0; j < ${layer.outSize}; j++) {`,
    `${ind}${ind}var acc = ${t}B[j];`,
    // Summed in chunks of about sqrt(L) leaves: adding each term to one growing
    // expression costs circom time quadratic in L (most of a 100-tree model's compile).
    ...(L > 0
      ? [
          `${ind}${ind}for (var c = 0; c < ${Math.ceil(L / chunk)}; c++) {`,
          `${ind}${ind}${ind}var part = 0;`,
          `${ind}${ind}${ind}var end = (c + 1) * ${chunk};`,
          `${ind}${ind}${ind}if (end > ${L}) { end = ${L}; }`,
          `${ind}${ind}${ind}for (var k = c * ${chunk}; k < end; k++) {`,
          `${ind}${ind}${ind}${ind}part += ${t}Lw[j][k] * ${t}I[${t}Li[k]];`,
          `${ind}${ind}${ind}}`,
          `${ind}${ind}${ind}acc += part;`,
          `${ind}${ind}}`,
        ]
      : []),
    `${ind}${ind}${t}Rs[j] = Rescale(${N}, ${layer.shift});`,
    `${ind}${ind}${t}Rs[j].in <== acc;`,
    `${ind}${ind}${t}[j] <== ${t}Rs[j].out;`,
    `${ind}${ind}${t}Pos[j] <== ${t}Rs[j].pos;`,
    `${ind}}`,
  );
  return { values: t, pos: `${t}Pos`, size: layer.outSize };
}

/** A private model's tree ensemble (tree-private.ts): private tests and subtree values, then the rescale as the public path. */
function emitTreesPrivate(layer: QTreeEnsemble & { priv: QTreePrivate }, cur: Cursor, ctx: EmitContext, t: string, N: number): Cursor {
  ctx.lines.push(
    `${ind}// ${layer.name}: tree ensemble, ${layer.roots.length} trees, ${layer.trueChild.length} nodes, private thresholds, ` +
      `leaf weights and base values, ${layer.outSize} outputs rescaled by 2^${layer.shift}`,
  );
  const acc = emitPrivateTrees({ ...layer, leafBits: N }, cur, ctx, t);
  ctx.lines.push(`${ind}component ${t}Rs[${layer.outSize}];`, `${ind}signal ${t}[${layer.outSize}];`, `${ind}signal ${t}Pos[${layer.outSize}];`);
  acc.forEach((terms, j) => {
    ctx.lines.push(`${ind}var ${t}A${j} = ${terms[0]};`);
    for (let k = 1; k < terms.length; k += 16) ctx.lines.push(`${ind}${t}A${j} += ${terms.slice(k, k + 16).join(' + ')};`);
    ctx.lines.push(
      `${ind}${t}Rs[${j}] = Rescale(${N}, ${layer.shift});`,
      `${ind}${t}Rs[${j}].in <== ${t}A${j};`,
      `${ind}${t}[${j}] <== ${t}Rs[${j}].out;`,
      `${ind}${t}Pos[${j}] <== ${t}Rs[${j}].pos;`,
    );
  });
  return { values: t, pos: `${t}Pos`, size: layer.outSize };
}

export const treeEnsemble: LayerModule<TreeEnsembleLayer, QTreeEnsemble, TreeShape> = {
  kind: 'tree_ensemble',
  qkind: 'tree_ensemble',
  evalFloat: evalTreesFloat,
  // A tree ensemble compares each feature at its own scale: its thresholds absorb it.
  absorbScales: (layer) => layer,
  privacy: 'parameters',
  quantize(layer, { settings, input, private: priv }) {
    const s = settings.scaleBits;
    const w = activationBits(settings);
    const e = treeShift(layer);
    // A first tree layer compares the features at their own scale and width.
    const iq = input ?? { scales: new Array(layer.inSize).fill(s), widths: new Array(layer.inSize).fill(w) };
    // A private model: every node's own threshold, no comparison shared or folded (tree-private.ts).
    const plan = priv ? { priv: quantizePrivateTrees(layer, iq.scales, iq.widths) } : { plan: planTrees(layer, iq.scales, iq.widths) };
    const half = e > 0 ? 1n << BigInt(e - 1) : 0n;
    const q: QTreeEnsemble = {
      kind: 'tree_ensemble',
      name: layer.name,
      inSize: layer.inSize,
      outSize: layer.outSize,
      shift: e,
      ...plan,
      roots: layer.roots,
      trueChild: Int32Array.from(layer.trueChild, (c, i) => (layer.mode[i] === TREE_LEAF ? -1 : c)),
      falseChild: Int32Array.from(layer.falseChild, (c, i) => (layer.mode[i] === TREE_LEAF ? -1 : c)),
      leafWeights: Array.from(layer.leafWeights, (v, i) => (v === 0 ? 0n : toFixed(v, s + e, `${layer.name}.leaf[${Math.floor(i / layer.outSize)}]`))),
      bias: Array.from(layer.base, (v, j) => toFixed(v, s + e, `${layer.name}.base[${j}]`) + half),
    };
    checkTreeRange(q, w, s);
    if (priv) checkLeafWidths(q, w);
    return q;
  },
  reference(layer, x, st) {
    // The comparison bits [X_f <= T], then each tree's path as the circuit's indicators select it.
    const w = activationBits(st);
    const { plan, priv } = layer;
    const bits = new Uint8Array(plan?.bitCount ?? 0);
    for (const f of plan?.features ?? []) f.thresholds.forEach((T, j) => (bits[f.offset + j] = x[f.feature] <= T ? 1 : 0));
    // A private model's nodes test their own thresholds (tree-private.ts).
    const test = priv ? (i: number) => privateTest(priv, i, x[priv.feature[i]]) : (i: number) => nodeTest(plan!, i, bits) === 1;
    const acc = layer.bias.slice();
    for (const r of layer.roots) {
      let i = r;
      while (layer.trueChild[i] >= 0) i = test(i) ? layer.trueChild[i] : layer.falseChild[i];
      for (let j = 0; j < layer.outSize; j++) acc[j] += layer.leafWeights[i * layer.outSize + j];
    }
    return acc.map((v, j) => {
      checkWidth(v, w + layer.shift, `${layer.name}[${j}]`);
      return floorShift(v, layer.shift);
    });
  },
  shape(layer, ctx) {
    // As quantize: a first tree layer compares the features at their own scale and width.
    const input = firstLayerInput(ctx.settings, layer.inSize, ctx.first ? ctx.inputQuant : null);
    const shape = { outSize: layer.outSize, shift: treeShift(layer) };
    if (ctx.private) return { ...shape, priv: privateTreeShape(privateTests(layer), layer.feature, input.widths) };
    return { ...shape, plan: planTrees(layer, input.scales, input.widths) };
  },
  qshape: (layer) => ({
    outSize: layer.outSize,
    shift: layer.shift,
    ...(layer.priv ? { priv: privateTreeShape(layer.priv.test, layer.priv.feature, layer.priv.widths) } : { plan: layer.plan }),
  }),
  count({ outSize, shift, plan: maybePlan, priv }, env) {
    const N = activationBits(env.settings) + shift;
    if (priv) {
      const c = privateTreeCount(priv, outSize, N);
      return { constraints: c.constraints + outSize * N, formula: `${c.formula} + ${outSize} x ${N}`, known: allKnown(outSize), params: c.params };
    }
    const plan = maybePlan!;
    const parts = plan.features.map((f) => `${f.thresholds.length} x ${f.bits}`);
    const cmp = plan.features.reduce((a, f) => a + comparisonCost(f.thresholds.length, f.bits), 0);
    return {
      constraints: cmp + plan.products + outSize * N,
      formula: `comparisons (${parts.join(' + ') || 'none'}) ${cmp} + paths ${plan.products} + ${outSize} x ${N}`,
      known: allKnown(outSize),
    };
  },
  emit: (layer, _shape, cur, ctx) => emitTrees(layer, cur, ctx),
};
