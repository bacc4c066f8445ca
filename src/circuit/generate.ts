import { copySources, firstLayerInput, type QLayer, type QuantizedModel } from '../quant/quantize.ts';
import { activationBits } from '../quant/settings.ts';
import { packedCount } from '../quant/pack.ts';
import { comparisonCost, IND_ONE, IND_VAR, IND_ZERO } from '../quant/tree-plan.ts';
import { isUnsigned, type OneHotGroup, oneHotGroups } from '../quant/input-quant.ts';
import { binarizeCost, normalizeCost } from '../quant/ml-plan.ts';

/**
 * Circuit generation: a pure function from a quantized model to `.circom` text.
 * Each layer kind has one generator (see `GENERATORS`), which emits the layer's
 * component wiring and states its exact constraint count, so the count can be
 * checked against what circom reports.
 */

/** Where the generated text comes from, per layer, for the layer table. */
export interface LayerPlan {
  name: string;
  kind: QLayer['kind'] | 'input' | 'head';
  size: number;
  /** Exact non-linear constraint count after circom --O2. */
  constraints: number;
  /** How the count arises, e.g. "64 x 32". */
  formula: string;
}

export interface GeneratedCircuit {
  /** The main .circom file; it includes `zkinfer.circom` from `circuits/`. */
  source: string;
  plan: LayerPlan[];
  constraints: number;
  /** Template name of the model (wrapped by the proof circuit). */
  template: string;
  /** Number of decision signals after the outputs. */
  decisionSize: number;
}

/** Names of the signal arrays holding the current vector, and its sign digits if known. */
interface Cursor {
  values: string;
  pos: string | null;
  size: number;
  /** Set when `values` are a linear layer's accumulators, not yet rescaled by 2^acc (a max pool follows). */
  acc?: number;
  /** Per element, its entry in `pos`, or -1 when its sign digit is not known; absent: the same index. */
  posIdx?: Int32Array;
}

interface EmitContext {
  q: QuantizedModel;
  /** Names the layer's signals (`l<index>`). */
  index: number | string;
  lines: string[];
  /** The layer after this one, if any. */
  next?: QLayer;
}

type LayerGenerator<K extends QLayer['kind']> = (
  layer: Extract<QLayer, { kind: K }>,
  cur: Cursor,
  ctx: EmitContext,
) => { cursor: Cursor; plan: Omit<LayerPlan, 'name' | 'kind' | 'size'> };

const ind = '    ';

/** Emits `signal name[n]` plus a Rescale(N, 0) per entry to get sign digits of `cur`. */
function emitSign(cur: Cursor, width: number, ctx: EmitContext, tag: string): string {
  const c = `${tag}Sign`;
  ctx.lines.push(
    `${ind}component ${c}[${cur.size}];`,
    `${ind}signal ${c}Pos[${cur.size}];`,
    `${ind}for (var i = 0; i < ${cur.size}; i++) {`,
    `${ind}${ind}${c}[i] = Rescale(${width}, 0);`,
    `${ind}${ind}${c}[i].in <== ${cur.values}[i];`,
    `${ind}${ind}${c}Pos[i] <== ${c}[i].pos;`,
    `${ind}}`,
  );
  return `${c}Pos`;
}

/**
 * Sign digits of every element of `cur`: the known ones when all are known (through
 * `posIdx` when they sit in another order), else computed (`had` false).
 */
function signDigits(cur: Cursor, width: number, ctx: EmitContext, tag: string): { pos: string; had: boolean } {
  if (cur.pos !== null && !cur.posIdx) return { pos: cur.pos, had: true };
  if (cur.pos !== null && cur.posIdx && cur.posIdx.every((k) => k >= 0)) {
    ctx.lines.push(
      `${ind}var ${tag}PI[${cur.size}] = ${list(Array.from(cur.posIdx))};`,
      `${ind}signal ${tag}Pm[${cur.size}];`,
      `${ind}for (var i = 0; i < ${cur.size}; i++) {`,
      `${ind}${ind}${tag}Pm[i] <== ${cur.pos}[${tag}PI[i]];`,
      `${ind}}`,
    );
    return { pos: `${tag}Pm`, had: true };
  }
  return { pos: emitSign(cur, width, ctx, tag), had: false };
}

/** Whether input column `col` of the layer at `index` is known to fit the activation width (see `copySources`). */
function sourceFits(ctx: EmitContext): (col: number) => boolean {
  const w = activationBits(ctx.q.settings);
  if (ctx.index !== 0) return () => true;
  const widths = firstLayerInput(ctx.q.settings, ctx.q.inputSize, ctx.q.inputQuant).widths;
  return (col) => widths[col] <= w;
}

function matrixLiteral(values: bigint[], rows: number, cols: number): string {
  const out: string[] = [];
  for (let j = 0; j < rows; j++) out.push(`[${values.slice(j * cols, (j + 1) * cols).join(',')}]`);
  return `[${out.join(',\n        ')}]`;
}

/**
 * The rescale after a linear layer, or nothing when a max pool follows: the pool then
 * compares the accumulators and rescales only the maxima (floor division is
 * nondecreasing, so the result is the same, on a quarter of the values for 2x2 pools).
 */
function emitRescale(layer: Extract<QLayer, { kind: 'dense' | 'sparse' }>, t: string, ctx: EmitContext, cur: Cursor): { cursor: Cursor; plan: { constraints: number; formula: string } } {
  // The accumulator's width: activation bits + t, or narrower for a first layer whose inputs are narrower.
  const N = (layer.kind === 'dense' ? layer.accBits : undefined) ?? activationBits(ctx.q.settings) + layer.shift;
  if (ctx.next?.kind === 'maxpool') {
    ctx.lines.push(`${ind}// (rescaled after the max pool that follows)`);
    return {
      cursor: { values: `${t}Mul.out`, pos: null, size: layer.outSize, acc: layer.shift },
      plan: { constraints: 0, formula: 'rescaled after the max pool' },
    };
  }
  const src = copySources(layer, sourceFits(ctx));
  const copies: number[] = [];
  const rescaled: number[] = [];
  src.forEach((c, j) => (c >= 0 ? copies : rescaled).push(j));
  if (copies.length > 0) return emitRescaleWithCopies(layer, t, ctx, cur, N, src, copies, rescaled);
  ctx.lines.push(
    `${ind}component ${t}Rs[${layer.outSize}];`,
    `${ind}signal ${t}[${layer.outSize}];`,
    `${ind}signal ${t}Pos[${layer.outSize}];`,
    `${ind}for (var j = 0; j < ${layer.outSize}; j++) {`,
    `${ind}${ind}${t}Rs[j] = Rescale(${N}, ${layer.shift});`,
    `${ind}${ind}${t}Rs[j].in <== ${t}Mul.out[j];`,
    `${ind}${ind}${t}[j] <== ${t}Rs[j].out;`,
    `${ind}${ind}${t}Pos[j] <== ${t}Rs[j].pos;`,
    `${ind}}`,
  );
  return {
    cursor: { values: t, pos: `${t}Pos`, size: layer.outSize },
    plan: { constraints: layer.outSize * N, formula: `${layer.outSize} x ${N}` },
  };
}

/** `t[targets[k]] <== cur[sources[k]]`: carried values, copied (linear, no constraint after --O2). */
function emitCopies(t: string, targets: number[], sources: number[], cur: Cursor, ctx: EmitContext): void {
  ctx.lines.push(
    `${ind}var ${t}Ci[${targets.length}] = ${list(targets)};`,
    `${ind}var ${t}Cs[${targets.length}] = ${list(sources)};`,
    `${ind}for (var k = 0; k < ${targets.length}; k++) {`,
    `${ind}${ind}${t}[${t}Ci[k]] <== ${cur.values}[${t}Cs[k]];`,
    `${ind}}`,
  );
}

/**
 * The rescale of a linear layer some of whose rows copy an input (`copySources`): those
 * take the input as it is (it is already range-checked to the activation width, and the
 * rescale would give it back exactly), the others are rescaled as usual.
 */
function emitRescaleWithCopies(
  layer: { outSize: number; shift: number },
  t: string,
  ctx: EmitContext,
  cur: Cursor,
  N: number,
  src: Int32Array,
  copies: number[],
  rescaled: number[],
): { cursor: Cursor; plan: { constraints: number; formula: string } } {
  const r = rescaled.length;
  ctx.lines.push(`${ind}signal ${t}[${layer.outSize}];`);
  if (r > 0) {
    ctx.lines.push(
      `${ind}var ${t}Ri[${r}] = ${list(rescaled)};`,
      `${ind}component ${t}Rs[${r}];`,
      `${ind}signal ${t}Pos[${r}];`,
      `${ind}for (var k = 0; k < ${r}; k++) {`,
      `${ind}${ind}${t}Rs[k] = Rescale(${N}, ${layer.shift});`,
      `${ind}${ind}${t}Rs[k].in <== ${t}Mul.out[${t}Ri[k]];`,
      `${ind}${ind}${t}[${t}Ri[k]] <== ${t}Rs[k].out;`,
      `${ind}${ind}${t}Pos[k] <== ${t}Rs[k].pos;`,
      `${ind}}`,
    );
  }
  ctx.lines.push(`${ind}// ${copies.length} rows copy an input (a carried value): no rescale`);
  emitCopies(t, copies, copies.map((j) => src[j]), cur, ctx);
  const posIdx = new Int32Array(layer.outSize).fill(-1);
  rescaled.forEach((j, k) => (posIdx[j] = k));
  return {
    cursor: { values: t, pos: r > 0 ? `${t}Pos` : null, size: layer.outSize, posIdx },
    plan: { constraints: r * N, formula: `${r} x ${N} (${copies.length} copied)` },
  };
}

const dense: LayerGenerator<'dense'> = (layer, cur, ctx) => {
  const t = `l${ctx.index}`;
  ctx.lines.push(
    `${ind}// ${layer.name}: dense ${layer.inSize} -> ${layer.outSize}, constant weights at scale 2^${layer.shift} (linear), then rescale by 2^${layer.shift}`,
    `${ind}var ${t}W[${layer.outSize}][${layer.inSize}] = ${matrixLiteral(layer.weights, layer.outSize, layer.inSize)};`,
    `${ind}var ${t}B[${layer.outSize}] = [${layer.bias.join(',')}];`,
    `${ind}component ${t}Mul = DenseConst(${layer.inSize}, ${layer.outSize}, ${t}W, ${t}B);`,
    `${ind}${t}Mul.in <== ${cur.values};`,
  );
  return emitRescale(layer, t, ctx, cur);
};

/** Wraps a long list of numbers over lines of about 20 entries (compact, diff-friendly text). */
function list(values: (bigint | number)[]): string {
  const out: string[] = [];
  for (let i = 0; i < values.length; i += 20) out.push(values.slice(i, i + 20).join(','));
  return `[${out.join(',\n        ')}]`;
}

const sparse: LayerGenerator<'sparse'> = (layer, cur, ctx) => {
  const t = `l${ctx.index}`;
  const nnz = layer.weights.length;
  const c = layer.conv;
  if (c) {
    ctx.lines.push(
      `${ind}// ${layer.name}: convolution [${c.inShape}] -> [${c.outShape}], kernel ${c.kernel.join('x')}, strides ${c.strides.join('x')}, dilations ${c.dilations.join('x')}, pads ${c.pads.join('x')}, group ${c.group} (${nnz} terms), weights at scale 2^${layer.shift}, then rescale by 2^${layer.shift}`,
      `${ind}var ${t}K[${c.weights.length}] = ${list(c.weights)};`,
      `${ind}var ${t}B[${layer.outSize}] = ${list(layer.bias)};`,
      `${ind}component ${t}Mul = ConvConst(${[...c.inShape, ...c.outShape, ...c.kernel, ...c.strides, ...c.dilations, ...c.pads, c.group].join(', ')}, ${t}K, ${t}B);`,
      `${ind}${t}Mul.in <== ${cur.values};`,
    );
    return emitRescale(layer, t, ctx, cur);
  }
  ctx.lines.push(
    `${ind}// ${layer.name}: sparse linear ${layer.inSize} -> ${layer.outSize} (${nnz} terms), constant weights at scale 2^${layer.shift}, then rescale by 2^${layer.shift}`,
    `${ind}var ${t}R[${layer.outSize + 1}] = ${list(layer.rowPtr)};`,
    `${ind}var ${t}C[${Math.max(1, nnz)}] = ${list(nnz ? layer.cols : [0])};`,
    `${ind}var ${t}W[${Math.max(1, nnz)}] = ${list(nnz ? layer.weights : [0n])};`,
    `${ind}var ${t}B[${layer.outSize}] = ${list(layer.bias)};`,
    `${ind}component ${t}Mul = SparseConst(${layer.inSize}, ${layer.outSize}, ${Math.max(1, nnz)}, ${t}R, ${t}C, ${t}W, ${t}B);`,
    `${ind}${t}Mul.in <== ${cur.values};`,
  );
  return emitRescale(layer, t, ctx, cur);
};

const maxpool: LayerGenerator<'maxpool'> = (layer, cur, ctx) => {
  const w = activationBits(ctx.q.settings);
  const t = `l${ctx.index}`;
  const pairs = layer.idx.length - layer.outSize;
  const pooled = cur.acc !== undefined;
  // Width of the compared values: accumulators of the layer before, or activations.
  const N = pooled ? w + cur.acc! : w;
  ctx.lines.push(
    `${ind}// ${layer.name}: max pool ${layer.inSize} -> ${layer.outSize}, ${pairs} pairwise comparisons of ${N}-bit values${pooled ? `, then rescale by 2^${cur.acc}` : ''}`,
    `${ind}var ${t}R[${layer.outSize + 1}] = ${list(layer.rowPtr)};`,
    `${ind}var ${t}I[${layer.idx.length}] = ${list(layer.idx)};`,
  );
  const src = pairs > 0 ? `${t}Max.out` : `${t}Pick`;
  if (pairs > 0) {
    ctx.lines.push(`${ind}component ${t}Max = MaxPoolConst(${layer.inSize}, ${layer.outSize}, ${layer.idx.length}, ${N}, ${t}R, ${t}I);`, `${ind}${t}Max.in <== ${cur.values};`);
  } else {
    // Every window is one value: a selection, no constraint.
    ctx.lines.push(`${ind}signal ${t}Pick[${layer.outSize}];`, `${ind}for (var j = 0; j < ${layer.outSize}; j++) {`, `${ind}${ind}${t}Pick[j] <== ${cur.values}[${t}I[j]];`, `${ind}}`);
  }
  const cmp = pairs * (N + 2);
  if (!pooled) {
    return { cursor: { values: src, pos: null, size: layer.outSize }, plan: { constraints: cmp, formula: `${pairs} x (${N} + 2)` } };
  }
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
  return {
    cursor: { values: t, pos: `${t}Pos`, size: layer.outSize },
    plan: { constraints: cmp + layer.outSize * N, formula: `${pairs} x (${N} + 2) + ${layer.outSize} x ${N}` },
  };
};

const relu: LayerGenerator<'relu'> = (layer, cur, ctx) => {
  const w = activationBits(ctx.q.settings);
  const t = `l${ctx.index}`;
  ctx.lines.push(`${ind}// ${layer.name}: relu`);
  const { pos, had: hadPos } = signDigits(cur, w, ctx, t);
  ctx.lines.push(
    `${ind}signal ${t}[${layer.size}];`,
    `${ind}for (var i = 0; i < ${layer.size}; i++) {`,
    `${ind}${ind}${t}[i] <== ${cur.values}[i] * ${pos}[i];`,
    `${ind}}`,
  );
  return {
    cursor: { values: t, pos: null, size: layer.size },
    plan: hadPos
      ? { constraints: layer.size, formula: `${layer.size} x 1` }
      : { constraints: layer.size * (w + 1), formula: `${layer.size} x (${w} + 1)` },
  };
};

const leakyRelu: LayerGenerator<'leaky_relu'> = (layer, cur, ctx) => {
  const { scaleBits: s, bits: B } = ctx.q.settings;
  const w = activationBits(ctx.q.settings);
  const t = `l${ctx.index}`;
  ctx.lines.push(`${ind}// ${layer.name}: leaky relu, slopes at scale 2^${s}`);
  const { pos, had: hadPos } = signDigits(cur, w, ctx, t);
  ctx.lines.push(
    `${ind}var ${t}A[${layer.size}] = [${layer.alpha.join(',')}];`,
    `${ind}component ${t}Lr[${layer.size}];`,
    `${ind}signal ${t}[${layer.size}];`,
    `${ind}for (var i = 0; i < ${layer.size}; i++) {`,
    `${ind}${ind}${t}Lr[i] = LeakyReluFromSign(${B}, ${s}, ${t}A[i]);`,
    `${ind}${ind}${t}Lr[i].in <== ${cur.values}[i];`,
    `${ind}${ind}${t}Lr[i].pos <== ${pos}[i];`,
    `${ind}${ind}${t}[i] <== ${t}Lr[i].out;`,
    `${ind}}`,
  );
  const per = 1 + B + (hadPos ? 0 : w);
  return {
    cursor: { values: t, pos: null, size: layer.size },
    plan: { constraints: layer.size * per, formula: hadPos ? `${layer.size} x (1 + ${B})` : `${layer.size} x (${w} + 1 + ${B})` },
  };
};

function emitClip(
  ctx: EmitContext,
  t: string,
  cur: Cursor,
  width: number,
  min: bigint | null,
  max: bigint | null,
): { cursor: Cursor; constraints: number } {
  ctx.lines.push(
    `${ind}component ${t}Clip[${cur.size}];`,
    `${ind}signal ${t}[${cur.size}];`,
    `${ind}for (var i = 0; i < ${cur.size}; i++) {`,
    `${ind}${ind}${t}Clip[i] = Clip(${width}, ${min === null ? '0, 0' : `1, ${min}`}, ${max === null ? '0, 0' : `1, ${max}`});`,
    `${ind}${ind}${t}Clip[i].in <== ${cur.values}[i];`,
    `${ind}${ind}${t}[i] <== ${t}Clip[i].out;`,
    `${ind}}`,
  );
  const bounds = (min === null ? 0 : 1) + (max === null ? 0 : 1);
  return { cursor: { values: t, pos: null, size: cur.size }, constraints: cur.size * bounds * (width + 2) };
}

const clip: LayerGenerator<'clip'> = (layer, cur, ctx) => {
  const w = activationBits(ctx.q.settings);
  const t = `l${ctx.index}`;
  ctx.lines.push(`${ind}// ${layer.name}: clip to [${layer.min ?? '-inf'}, ${layer.max ?? 'inf'}] (scale 2^${ctx.q.settings.scaleBits})`);
  const r = emitClip(ctx, t, cur, w, layer.min, layer.max);
  const bounds = (layer.min === null ? 0 : 1) + (layer.max === null ? 0 : 1);
  return { cursor: r.cursor, plan: { constraints: r.constraints, formula: `${layer.size} x ${bounds} x (${w} + 2)` } };
};

const hardSigmoid: LayerGenerator<'hard_sigmoid'> = (layer, cur, ctx) => {
  const s = ctx.q.settings.scaleBits;
  const w = activationBits(ctx.q.settings);
  const t = `l${ctx.index}`;
  const one = 1n << BigInt(s);
  ctx.lines.push(
    `${ind}// ${layer.name}: sigmoid approximated by clip(x / 4 + 1/2, 0, 1), rounded`,
    `${ind}component ${t}Q[${layer.size}];`,
    `${ind}signal ${t}U[${layer.size}];`,
    `${ind}for (var i = 0; i < ${layer.size}; i++) {`,
    `${ind}${ind}${t}Q[i] = Rescale(${w + 2}, 2);`,
    `${ind}${ind}${t}Q[i].in <== ${cur.values}[i] + ${2n * one + 2n};`,
    `${ind}${ind}${t}U[i] <== ${t}Q[i].out;`,
    `${ind}}`,
  );
  const r = emitClip(ctx, t, { values: `${t}U`, pos: null, size: layer.size }, w, 0n, one);
  return {
    cursor: r.cursor,
    plan: { constraints: layer.size * (w + 2) + r.constraints, formula: `${layer.size} x (${w} + 2 + 2 x (${w} + 2))` },
  };
};

/**
 * A tree ensemble (see src/quant/tree-plan.ts): comparison bits per feature (a
 * range-checked difference per threshold, or one thermometer code per feature with 3
 * or more thresholds), one indicator per node that is not constant (a product for a true child
 * below the root, a difference for a false child), the outputs as constant-weighted sums
 * of the leaf indicators, rescaled by 2^e with rounding.
 */
const treeEnsemble: LayerGenerator<'tree_ensemble'> = (layer, cur, ctx) => {
  const w = activationBits(ctx.q.settings);
  const t = `l${ctx.index}`;
  const { plan } = layer;
  const n = layer.trueChild.length;
  const N = w + layer.shift;
  ctx.lines.push(`${ind}// ${layer.name}: tree ensemble, ${layer.roots.length} trees, ${n} nodes, ${plan.bitCount} comparison bits, ${plan.products} path products, ${layer.outSize} outputs rescaled by 2^${layer.shift}`);
  if (plan.bitCount > 0) ctx.lines.push(`${ind}signal ${t}Le[${plan.bitCount}];`);
  const parts: string[] = [];
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
    parts.push(`${m} x ${f.bits}`);
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
    for (const [b, sgn] of [[plan.testA[i], plan.signA[i]], [plan.testB[i], plan.signB[i]]]) {
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
  const cmp = plan.features.reduce((a, f) => a + comparisonCost(f.thresholds.length, f.bits), 0);
  return {
    cursor: { values: t, pos: `${t}Pos`, size: layer.outSize },
    plan: {
      constraints: cmp + plan.products + layer.outSize * N,
      formula: `comparisons (${parts.join(' + ') || 'none'}) ${cmp} + paths ${plan.products} + ${layer.outSize} x ${N}`,
    },
  };
};

/**
 * The product of two activations per output (a quadratic constraint), rescaled by 2^s
 * with rounding and range-checked to the activation width; outputs that carry a value
 * (b = -1) take it as it is.
 */
const mul: LayerGenerator<'mul'> = (layer, cur, ctx) => {
  const s = ctx.q.settings.scaleBits;
  const w = activationBits(ctx.q.settings);
  const N = w + s;
  const t = `l${ctx.index}`;
  const prods: number[] = [];
  const carried: number[] = [];
  layer.b.forEach((b, k) => (b >= 0 ? prods : carried).push(k));
  const p = prods.length;
  ctx.lines.push(`${ind}// ${layer.name}: ${p} products of two activations, each rescaled by 2^${s} (rounded)${carried.length ? `, ${carried.length} values carried` : ''}`, `${ind}signal ${t}[${layer.outSize}];`);
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
  if (carried.length > 0) emitCopies(t, carried, carried.map((k) => layer.a[k]), cur, ctx);
  const posIdx = new Int32Array(layer.outSize).fill(-1);
  prods.forEach((k, i) => (posIdx[k] = i));
  return {
    cursor: { values: t, pos: p > 0 ? `${t}Pos` : null, size: layer.outSize, ...(carried.length ? { posIdx } : {}) },
    plan: { constraints: p * (1 + N), formula: `${p} x (1 + ${N})` },
  };
};

/**
 * An elementwise layer with a `span` acts on those elements only (the others are
 * carried): the generator runs on a copy of the span (linear, no constraint) and the
 * result is put back in place.
 */
type Spanned = 'relu' | 'leaky_relu' | 'clip' | 'hard_sigmoid' | 'binarize' | 'normalize';
function spanned<K extends Spanned>(gen: LayerGenerator<K>): LayerGenerator<K> {
  return (typed, cur, ctx) => {
    const layer = typed as Extract<QLayer, { kind: Spanned }>;
    if (!layer.span) return gen(typed, cur, ctx);
    const [lo, hi] = layer.span;
    const n = hi - lo;
    const t = `l${ctx.index}`;
    ctx.lines.push(
      `${ind}// ${layer.name}: on elements ${lo} to ${hi - 1} of ${layer.size}, the others carried`,
      `${ind}signal ${t}In[${n}];`,
      `${ind}for (var i = 0; i < ${n}; i++) {`,
      `${ind}${ind}${t}In[i] <== ${cur.values}[${lo} + i];`,
      `${ind}}`,
    );
    let pos: string | null = null;
    const idx = Array.from({ length: n }, (_, i) => (cur.posIdx ? cur.posIdx[lo + i] : lo + i));
    if (cur.pos !== null && idx.every((k) => k >= 0)) {
      pos = `${t}InPos`;
      ctx.lines.push(`${ind}var ${t}InPI[${n}] = ${list(idx)};`, `${ind}signal ${pos}[${n}];`, `${ind}for (var i = 0; i < ${n}; i++) {`, `${ind}${ind}${pos}[i] <== ${cur.pos}[${t}InPI[i]];`, `${ind}}`);
    }
    // Per-element parameters are sliced to the span.
    const sliced = Object.fromEntries((['alpha', 'threshold', 'widths'] as const).filter((k) => k in layer).map((k) => [k, (layer as unknown as Record<string, unknown[]>)[k].slice(lo, hi)]));
    const inner = { ...layer, size: n, span: undefined, ...sliced } as typeof typed;
    const r = gen(inner, { values: `${t}In`, pos, size: n }, { ...ctx, index: `${ctx.index}s` });
    ctx.lines.push(
      `${ind}signal ${t}[${layer.size}];`,
      `${ind}for (var i = 0; i < ${layer.size}; i++) {`,
      `${ind}${ind}if (i < ${lo} || i >= ${hi}) {`,
      `${ind}${ind}${ind}${t}[i] <== ${cur.values}[i];`,
      `${ind}${ind}} else {`,
      `${ind}${ind}${ind}${t}[i] <== ${r.cursor.values}[i - ${lo}];`,
      `${ind}${ind}}`,
      `${ind}}`,
    );
    return { cursor: { values: t, pos: null, size: layer.size }, plan: r.plan };
  };
}

/**
 * Binarizer: y_i = 2^s (1.0) when x_i > T_i, else 0. The sign digit of x_i - T_i - 1 from a
 * decomposition of width b_i + 1 (b_i: x_i's width, so the difference always fits; see
 * `binarizeThreshold`), times 2^s (linear). One component array per distinct width.
 */
const binarize: LayerGenerator<'binarize'> = (layer, cur, ctx) => {
  const t = `l${ctx.index}`;
  const one = 1n << BigInt(ctx.q.settings.scaleBits);
  const byWidth = new Map<number, number[]>();
  layer.widths.forEach((b, i) => byWidth.set(b, [...(byWidth.get(b) ?? []), i]));
  ctx.lines.push(
    `${ind}// ${layer.name}: binarize, y_i = ${one} (1.0) when x_i > T_i (x_i - T_i - 1 >= 0), else 0`,
    `${ind}var ${t}T[${layer.size}] = ${list(layer.threshold)};`,
    `${ind}signal ${t}[${layer.size}];`,
  );
  for (const [b, idx] of [...byWidth.entries()].sort((x, y) => x[0] - y[0])) {
    const c = `${t}B${b}`;
    ctx.lines.push(
      `${ind}var ${c}Idx[${idx.length}] = ${list(idx)};`,
      `${ind}component ${c}[${idx.length}];`,
      `${ind}for (var k = 0; k < ${idx.length}; k++) {`,
      `${ind}${ind}${c}[k] = Rescale(${b + 1}, 0);`,
      `${ind}${ind}${c}[k].in <== ${cur.values}[${c}Idx[k]] - ${t}T[${c}Idx[k]] - 1;`,
      `${ind}${ind}${t}[${c}Idx[k]] <== ${c}[k].pos * ${one};`,
      `${ind}}`,
    );
  }
  const cost = binarizeCost(layer.widths);
  return { cursor: { values: t, pos: null, size: layer.size }, plan: cost };
};

/** Normalizer: NormL1 / NormL2 / NormMax (circuits/zkinfer.circom) with the widths of `layer.plan`. */
const normalize: LayerGenerator<'normalize'> = (layer, cur, ctx) => {
  const t = `l${ctx.index}`;
  const p = layer.plan;
  const s = p.scaleBits;
  ctx.lines.push(`${ind}// ${layer.name}: ${p.norm} normalisation of ${p.size} values of ${p.xBits} bits, y = x / norm at scale 2^${s} rounded (x when the norm is 0); divisors below 2^${p.divBits}`);
  // L1 takes |x_i| from the sign digits: the known ones (in their order), else decomposed.
  const signs = p.norm === 'L1' ? signDigits(cur, p.xBits, ctx, t) : null;
  const hadPos = signs?.had ?? true;
  const sign = signs?.pos ?? null;
  const args = p.norm === 'L1' ? [p.size, p.outBits, p.divBits, s] : p.norm === 'L2' ? [p.size, p.outBits, p.divBits, p.rootBits, p.gapBits, s] : [p.size, p.xBits, p.outBits, p.divBits, s];
  const tpl = p.norm === 'L1' ? 'NormL1' : p.norm === 'L2' ? 'NormL2' : 'NormMax';
  ctx.lines.push(`${ind}component ${t}Nm = ${tpl}(${args.join(', ')});`, `${ind}${t}Nm.in <== ${cur.values};`);
  if (sign) ctx.lines.push(`${ind}${t}Nm.sign <== ${sign};`);
  return { cursor: { values: `${t}Nm.out`, pos: `${t}Nm.pos`, size: p.size }, plan: normalizeCost(p, hadPos) };
};

/** One generator per layer kind; a new kind fails to type-check until it has one. */
const GENERATORS: { [K in QLayer['kind']]: LayerGenerator<K> } = {
  dense,
  sparse,
  maxpool,
  relu: spanned(relu),
  leaky_relu: spanned(leakyRelu),
  clip: spanned(clip),
  hard_sigmoid: spanned(hardSigmoid),
  mul,
  tree_ensemble: treeEnsemble,
  binarize: spanned(binarize),
  normalize: spanned(normalize),
};

function emitLayer(layer: QLayer, cur: Cursor, ctx: EmitContext) {
  const gen = GENERATORS[layer.kind] as LayerGenerator<typeof layer.kind>;
  return gen(layer as never, cur, ctx);
}

/**
 * Range checks of inputs with per-feature widths: feature i must lie in
 * [-2^(b_i - 1), 2^(b_i - 1)). One component array per distinct width (an array's
 * elements share a template instance shape); `idx` maps each back to its feature.
 * A categorical column's features (`groups`) are checked as one-hot instead: each is 0
 * or `one` (1.0 at the model's scale), and they sum to `one`, so exactly one is set; that
 * also bounds them, and their sign digit is 1.
 */
function emitInputChecks(bits: number[], lines: string[], groups: OneHotGroup[] = [], one = 0n, unsigned: (i: number) => boolean = () => false): { pos: string; constraints: number; formula: string } {
  const inGroup = new Set(groups.flatMap((g) => Array.from({ length: g.size }, (_, k) => g.start + k)));
  const groupsByWidth = new Map<string, number[]>();
  bits.forEach((b, i) => {
    const key = `${b}${unsigned(i) ? 'u' : ''}`;
    if (!inGroup.has(i)) groupsByWidth.set(key, [...(groupsByWidth.get(key) ?? []), i]);
  });
  const anyUnsigned = bits.some((_, i) => !inGroup.has(i) && unsigned(i));
  lines.push(`${ind}// inputs: feature i must lie in [-2^(b_i - 1), 2^(b_i - 1)), b_i its own width${anyUnsigned ? ', or in [0, 2^b_i) when its range starts at 0 or above' : ''}`, `${ind}signal inPos[${bits.length}];`);
  const parts: string[] = [];
  let constraints = 0;
  const order = [...groupsByWidth.entries()].sort((x, y) => parseInt(x[0]) - parseInt(y[0]) || x[0].localeCompare(y[0]));
  for (const [key, idx] of order) {
    const b = parseInt(key);
    const u = key.endsWith('u');
    const c = `inSign${key}`;
    // Unsigned: the b digits of x itself (Rescale decomposes its input plus 2^(b-1)), and x >= 0.
    lines.push(
      `${ind}var ${c}Idx[${idx.length}] = [${idx.join(',')}];`,
      `${ind}component ${c}[${idx.length}];`,
      `${ind}for (var k = 0; k < ${idx.length}; k++) {`,
      `${ind}${ind}${c}[k] = Rescale(${b}, 0);`,
      u ? `${ind}${ind}${c}[k].in <== x[${c}Idx[k]] - ${1n << BigInt(b - 1)};` : `${ind}${ind}${c}[k].in <== x[${c}Idx[k]];`,
      u ? `${ind}${ind}inPos[${c}Idx[k]] <== 1;` : `${ind}${ind}inPos[${c}Idx[k]] <== ${c}[k].pos;`,
      `${ind}}`,
    );
    parts.push(`${idx.length} x ${b}${u ? 'u' : ''}`);
    constraints += idx.length * b;
  }
  for (const g of groups) {
    lines.push(
      `${ind}// categorical column ${g.name}: one-hot over its ${g.size} categories, each feature 0 or ${one} (1.0), exactly one set`,
      `${ind}var oh${g.start}Sum = 0;`,
      `${ind}for (var i = ${g.start}; i < ${g.start + g.size}; i++) {`,
      `${ind}${ind}x[i] * (x[i] - ${one}) === 0;`,
      `${ind}${ind}inPos[i] <== 1;`,
      `${ind}${ind}oh${g.start}Sum += x[i];`,
      `${ind}}`,
      `${ind}oh${g.start}Sum === ${one};`,
    );
    constraints += g.size;
  }
  if (groups.length > 0) parts.push(`${groups.reduce((a, g) => a + g.size, 0)} x 1 (one-hot)`);
  return { pos: 'inPos', constraints, formula: parts.join(' + ') };
}

/**
 * Generates the model template. Inputs `x` are range-checked to the activation width
 * (this bounds every accumulator: see `checkNoWrap`). Outputs `y` are the final
 * values; `decision` holds the sigmoid thresholds or the softmax argmax.
 */
export function generateModelTemplate(q: QuantizedModel, template = 'ZkinferModel'): GeneratedCircuit {
  const w = activationBits(q.settings);
  const lines: string[] = [];
  const plan: LayerPlan[] = [];
  const decisionSize = q.head === 'sigmoid' ? q.outputSize : q.head === 'softmax' || q.head === 'argmax' ? 1 : 0;
  lines.push(
    `template ${template}() {`,
    `${ind}signal input x[${q.inputSize}];`,
    `${ind}signal output y[${q.outputSize}];`,
  );
  if (decisionSize > 0) lines.push(`${ind}signal output decision[${decisionSize}];`);
  let inPos: string;
  const groups = oneHotGroups(q.inputs);
  if (groups.length > 0) {
    const r = emitInputChecks(q.inputQuant?.bits ?? Array(q.inputSize).fill(w), lines, groups, 1n << BigInt(q.settings.scaleBits), (i) => isUnsigned(q.inputQuant, i));
    inPos = r.pos;
    plan.push({ name: 'input', kind: 'input', size: q.inputSize, constraints: r.constraints, formula: r.formula });
  } else if (!q.inputQuant) {
    lines.push(`${ind}// inputs: each must lie in [-2^${w - 1}, 2^${w - 1})`);
    inPos = emitSign({ values: 'x', pos: null, size: q.inputSize }, w, { q, index: 0, lines }, 'in');
    plan.push({ name: 'input', kind: 'input', size: q.inputSize, constraints: q.inputSize * w, formula: `${q.inputSize} x ${w}` });
  } else {
    const iq = q.inputQuant;
    const r = emitInputChecks(iq.bits, lines, [], 0n, (i) => isUnsigned(iq, i));
    inPos = r.pos;
    plan.push({ name: 'input', kind: 'input', size: q.inputSize, constraints: r.constraints, formula: r.formula });
  }

  let cur: Cursor = { values: 'x', pos: inPos, size: q.inputSize };
  q.layers.forEach((layer, index) => {
    const r = emitLayer(layer, cur, { q, index, lines, next: q.layers[index + 1] });
    plan.push({ name: layer.name, kind: layer.kind, size: r.cursor.size, ...r.plan });
    cur = r.cursor;
  });

  lines.push(`${ind}y <== ${cur.values};`);
  if (q.head === 'sigmoid') {
    const ctx = { q, index: q.layers.length, lines };
    lines.push(`${ind}// sigmoid head: decision = (logit >= 0), i.e. probability >= 0.5`);
    const { pos, had: hadPos } = signDigits(cur, w, ctx, 'head');
    lines.push(`${ind}decision <== ${pos};`);
    const c = hadPos ? 0 : q.outputSize * w;
    plan.push({ name: 'head', kind: 'head', size: q.outputSize, constraints: c, formula: hadPos ? 'sign digits reused' : `${q.outputSize} x ${w}` });
  } else if (q.head === 'softmax' || q.head === 'argmax') {
    lines.push(
      `${ind}// ${q.head} head: decision = index of the first maximum ${q.head === 'softmax' ? 'logit' : 'score'}`,
      `${ind}component head = Argmax(${q.outputSize}, ${w});`,
      `${ind}head.in <== ${cur.values};`,
      `${ind}decision[0] <== head.out;`,
    );
    plan.push({ name: 'head', kind: 'head', size: 1, constraints: q.outputSize * (w + 3), formula: `${q.outputSize} x (${w} + 3)` });
  }
  lines.push('}');
  return {
    source: lines.join('\n') + '\n',
    plan,
    constraints: plan.reduce((a, p) => a + p.constraints, 0),
    template,
    decisionSize,
  };
}

/** A standalone circuit with the model as main: outputs public, inputs private. */
export function generateCircuit(q: QuantizedModel): GeneratedCircuit {
  const model = generateModelTemplate(q);
  return {
    ...model,
    source: ['pragma circom 2.1.6;', '', 'include "zkinfer.circom";', '', model.source, 'component main = ZkinferModel();', ''].join('\n'),
  };
}

/** Names of the public signals of a proof circuit, in the order snarkjs lists them. */
export function publicSignalNames(q: QuantizedModel, decisionSize: number, publicInput = false): string[] {
  const w = activationBits(q.settings);
  const packed = (name: string, count: number) => Array.from({ length: packedCount(count, w) }, (_, i) => `${name}[${i}]`);
  return ['modelCommitment', ...(publicInput ? packed('packedFeatures', q.inputSize) : ['inputCommitment']), ...packed('packedOutputs', q.outputSize + decisionSize), 'nonce'];
}

/**
 * The proof circuit: the model plus what binds a proof to its context. Public signals,
 * in this order (outputs first, then public inputs, as circom lays them out):
 * modelCommitment, inputCommitment (or packedFeatures[...] when the input is public),
 * packedOutputs[...] (y then decision, packed floor(250 / W) per element), nonce.
 * Each public signal costs an EVM verifier about 6.5k gas, hence the packing.
 * - modelCommitment is a constant of the circuit (a hash of the model id and the model
 *   template), so the proof names the model it ran.
 * - inputCommitment is a Poseidon chain over the salt and the packed quantized features;
 *   with a public input, the packed quantized features are public signals instead.
 * - nonce is a public input, squared into a constraint so the proof is bound to it.
 */
export function generateProofCircuit(
  q: QuantizedModel,
  modelCommitment: bigint,
  opts: { publicInput?: boolean } = {},
): GeneratedCircuit & { publicSignals: string[] } {
  const model = generateModelTemplate(q);
  const d = model.decisionSize;
  const pub = opts.publicInput === true;
  const w = activationBits(q.settings);
  const nOut = q.outputSize + d;
  const lines = [
    'pragma circom 2.1.6;',
    '',
    'include "zkinfer.circom";',
    ...(pub ? [] : ['include "commitment.circom";']),
    '',
    model.source,
    'template ZkinferProof() {',
    `${ind}signal output modelCommitment;`,
    pub ? `${ind}signal output packedFeatures[${packedCount(q.inputSize, w)}];` : `${ind}signal output inputCommitment;`,
    `${ind}signal output packedOutputs[${packedCount(nOut, w)}];`,
    `${ind}signal input nonce;`,
    `${ind}signal input x[${q.inputSize}];`,
    ...(pub ? [] : [`${ind}signal input salt;`]),
    '',
    `${ind}modelCommitment <== ${modelCommitment};`,
    `${ind}component model = ZkinferModel();`,
    `${ind}model.x <== x;`,
    `${ind}// y, then the decision, packed: fewer public signals, each cheaper to verify on chain.`,
    `${ind}component packOut = Pack(${nOut}, ${w});`,
    `${ind}for (var i = 0; i < ${q.outputSize}; i++) {`,
    `${ind}${ind}packOut.in[i] <== model.y[i];`,
    `${ind}}`,
    ...(d > 0 ? [`${ind}for (var i = 0; i < ${d}; i++) {`, `${ind}${ind}packOut.in[${q.outputSize} + i] <== model.decision[i];`, `${ind}}`] : []),
    `${ind}packedOutputs <== packOut.out;`,
    ...(pub
      ? [`${ind}// The input is public: the packed quantized features are public signals.`, `${ind}component packIn = Pack(${q.inputSize}, ${w});`, `${ind}packIn.in <== x;`, `${ind}packedFeatures <== packIn.out;`]
      : [
          `${ind}component commit = InputCommitment(${q.inputSize}, ${activationBits(q.settings)});`,
          `${ind}commit.in <== x;`,
          `${ind}commit.salt <== salt;`,
          `${ind}inputCommitment <== commit.out;`,
        ]),
    `${ind}// A public input that no constraint touches could be changed freely; squaring it`,
    `${ind}// puts the nonce into the constraint system.`,
    `${ind}signal nonceSquared;`,
    `${ind}nonceSquared <== nonce * nonce;`,
    '}',
    '',
    'component main {public [nonce]} = ZkinferProof();',
    '',
  ];
  return { ...model, source: lines.join('\n'), publicSignals: publicSignalNames(q, d, pub) };
}
