import { TREE_LEAF, TREE_MODES, type TreeEnsembleLayer, type TreeMode } from '../model/ir.ts';
import { type Cursor, emitUnpack, type EmitContext, ind, list, packSigned, valuesPerWord } from './emit.ts';

/**
 * A tree ensemble of a private model (`QuantizedModel.private`): the thresholds, the leaf
 * values and the base values are private parameters (the parameter witness `p`); the tree
 * shapes, which feature each node reads and its comparison mode are architecture. Nothing
 * the circuit's shape depends on comes from a parameter's value: no comparison is folded
 * to a constant, none is shared between nodes, every node has its own threshold.
 *
 * Node tests, on the feature X (an integer in [-2^(b-1), 2^(b-1)), b its width) and the
 * node's integer threshold T (see `privateThreshold`):
 * - LEQ, LT: [X <= T]; GTE, GT: 1 - [X <= T]. T is range-checked to [-2^b, 2^b) (b + 1
 *   constraints: its digits, which also pack floor(252 / (b + 1)) thresholds of a width in
 *   one parameter, so the commitment hashes a few words instead of every threshold), so
 *   T - X lies within (-3 2^(b-1), 3 2^(b-1)) and its decomposition in b + 2 bits cannot
 *   wrap: its sign digit is [X <= T] (b + 2 constraints). The quantizer clamps T into
 *   [-2^(b-1) - 1, 2^(b-1) - 1], where [X <= T] is what the public path's constant-folded
 *   comparison gives for a threshold at or beyond the feature's range.
 * - EQ: [X = T] (2 constraints: X - T is zero or has an inverse, exact for any T); NEQ:
 *   1 - [X = T]. T is the threshold on the grid, or 2^(b-1) (never equal) when it is off
 *   the grid or beyond the range, where the public path's test is constant 0.
 * The value of a subtree (per output) is that of its false child plus test x (value of the
 * true child - value of the false child): one product per internal node and output, the
 * value of a leaf being its private weight, range-checked to the accumulator's width
 * N = w + e by its unpacking (floor(252 / N) weights per parameter). Each output is the
 * private base plus the trees' root values, rescaled (round to nearest) as in the public path.
 *
 * Cost: 2b + 3 per comparison, 2 per equality, N per leaf weight, one per internal node and
 * output, plus the hashing of the packed words. A public ensemble pays about one constraint
 * per distinct threshold (shared, bucketed, constant ones folded) and nothing per leaf: a
 * comparison with a witness threshold needs the digits of a difference (R1CS has no cheaper
 * comparison), so a private ensemble costs tens of times its public circuit.
 */

export const PT_LEAF = 0;
/** True when X <= T. */
export const PT_LE = 1;
/** True when X > T. */
export const PT_GT = 2;
/** True when X = T. */
export const PT_EQ = 3;
/** True when X != T. */
export const PT_NEQ = 4;

/** What a private tree layer's circuit depends on besides its parameter values. */
export interface QTreePrivate {
  /** Per node: the feature it reads (-1 for a leaf). */
  feature: Int32Array;
  /** Per node: PT_LEAF, PT_LE, PT_GT, PT_EQ or PT_NEQ. */
  test: Uint8Array;
  /** Per node: its integer threshold (0 for a leaf): a parameter. */
  threshold: bigint[];
  /** Per input feature: its signed width b. */
  widths: number[];
}

/** What a private tree layer's count depends on (architecture only). */
export interface PrivateTreeShape {
  /** Per node comparing X <= T (LEQ, LT, GTE, GT): the width b of its feature. */
  compareBits: number[];
  /** Nodes testing X = T (EQ, NEQ). */
  equalities: number;
  /** Internal nodes: one threshold and one product per output each. */
  internal: number;
  /** Leaves: one weight per output each. */
  leaves: number;
}

/** Per node its private test kind, from the mode alone. */
export function privateTests(layer: Pick<TreeEnsembleLayer, 'mode'>): Uint8Array {
  return Uint8Array.from(layer.mode, (m) => {
    if (m === TREE_LEAF) return PT_LEAF;
    switch (TREE_MODES[m] as TreeMode) {
      case 'BRANCH_LEQ':
      case 'BRANCH_LT':
        return PT_LE;
      case 'BRANCH_GTE':
      case 'BRANCH_GT':
        return PT_GT;
      case 'BRANCH_EQ':
        return PT_EQ;
      case 'BRANCH_NEQ':
        return PT_NEQ;
    }
  });
}

/**
 * The integer threshold T of a node with mode `mode` and float threshold t, on a feature at
 * scale 2^k and width b (the same rounding as `planTrees`): x <= t and x > t test
 * X <= floor(t 2^k), x < t and x >= t test X <= ceil(t 2^k) - 1, clamped into
 * [-2^(b-1) - 1, 2^(b-1) - 1] (always false / always true); x == t and x != t compare
 * with t 2^k when it is an integer within the range, else with 2^(b-1) (never equal).
 */
export function privateThreshold(mode: number, t: number, k: number, b: number): bigint {
  const v = t * 2 ** k;
  const lo = -(2 ** (b - 1));
  const hi = 2 ** (b - 1) - 1;
  const clamp = (T: number) => BigInt(Math.min(hi, Math.max(lo - 1, T)));
  switch (TREE_MODES[mode] as TreeMode) {
    case 'BRANCH_LEQ':
    case 'BRANCH_GT':
      return clamp(Math.floor(v));
    case 'BRANCH_LT':
    case 'BRANCH_GTE':
      return clamp(Math.ceil(v) - 1);
    case 'BRANCH_EQ':
    case 'BRANCH_NEQ':
      return BigInt(Number.isInteger(v) && v >= lo && v <= hi ? v : hi + 1);
  }
}

/** The private part of a quantized tree layer whose input feature i is at scale 2^scales[i] and width widths[i]. */
export function quantizePrivateTrees(layer: TreeEnsembleLayer, scales: ArrayLike<number>, widths: ArrayLike<number>): QTreePrivate {
  const test = privateTests(layer);
  return {
    feature: Int32Array.from(layer.feature, (f, i) => (test[i] === PT_LEAF ? -1 : f)),
    test,
    threshold: Array.from(layer.threshold, (t, i) =>
      test[i] === PT_LEAF ? 0n : privateThreshold(layer.mode[i], t, scales[layer.feature[i]], widths[layer.feature[i]]),
    ),
    widths: Array.from(widths),
  };
}

/** The count shape of a private tree layer on inputs of widths `widths`. */
export function privateTreeShape(test: Uint8Array, feature: ArrayLike<number>, widths: ArrayLike<number>): PrivateTreeShape {
  const compareBits: number[] = [];
  let equalities = 0;
  let leaves = 0;
  test.forEach((k, i) => {
    if (k === PT_LEAF) leaves++;
    else if (k === PT_LE || k === PT_GT) compareBits.push(widths[feature[i]]);
    else equalities++;
  });
  return { compareBits, equalities, internal: test.length - leaves, leaves };
}

/**
 * Constraints of a private tree layer before its rescale (`N`: the accumulator's width,
 * activation bits + the leaf shift, also the leaf weights' packed width): comparisons
 * (unpacking each threshold, the difference), equalities, unpacking the leaf weights, one
 * product per internal node and output.
 */
export function privateTreeCount(p: PrivateTreeShape, outSize: number, N: number): { constraints: number; params: number; formula: string } {
  const cmp = p.compareBits.reduce((a, b) => a + 2 * b + 3, 0);
  const sel = p.internal * outSize;
  const weights = p.leaves * outSize;
  const perWidth = new Map<number, number>();
  for (const b of p.compareBits) perWidth.set(b, (perWidth.get(b) ?? 0) + 1);
  const words = [...perWidth].reduce((a, [b, m]) => a + Math.ceil(m / valuesPerWord(b + 1)), 0);
  return {
    constraints: cmp + 2 * p.equalities + weights * N + sel,
    params: words + p.equalities + Math.ceil(weights / valuesPerWord(N)) + outSize,
    formula:
      `${p.compareBits.length} private comparisons ${cmp} + ${p.equalities} equalities x 2 + ${weights} leaf weights x ${N} + ` +
      `${p.internal} nodes x ${outSize} selections`,
  };
}

/** Whether the private test of node i holds for the feature value X. */
export function privateTest(priv: QTreePrivate, i: number, X: bigint): boolean {
  const T = priv.threshold[i];
  switch (priv.test[i]) {
    case PT_LE:
      return X <= T;
    case PT_GT:
      return X > T;
    case PT_EQ:
      return X === T;
    default:
      return X !== T;
  }
}

/** The layer's trees and weights, as the private emission reads them. */
export interface PrivateTreeLayer {
  name: string;
  outSize: number;
  shift: number;
  roots: Int32Array;
  trueChild: Int32Array;
  falseChild: Int32Array;
  leafWeights: bigint[];
  bias: bigint[];
  priv: QTreePrivate;
  /** Width of the leaf weights' packing: the accumulator's, activation bits + shift. */
  leafBits: number;
}

/**
 * Emits a private tree layer up to its accumulators: the parameters (the comparisons'
 * thresholds packed per feature width, ascending, in node order; the equalities' thresholds;
 * the leaves' weights in node order, packed; the base values), the tests, the subtree
 * values. Returns per output the terms of its accumulator (circom expressions).
 */
export function emitPrivateTrees(layer: PrivateTreeLayer, cur: Cursor, ctx: EmitContext, t: string): string[][] {
  const params = ctx.params!;
  const p = params.signal;
  const { priv, outSize } = layer;
  const n = priv.test.length;
  const internal: number[] = [];
  const leaves: number[] = [];
  for (let i = 0; i < n; i++) (priv.test[i] === PT_LEAF ? leaves : internal).push(i);
  // The tests: [X <= T] grouped by feature width, the thresholds of a group packed (`packSigned`), [X = T] in one loop.
  const byWidth = new Map<number, number[]>();
  const eqs: number[] = [];
  for (const i of internal) {
    const k = priv.test[i];
    if (k === PT_EQ || k === PT_NEQ) eqs.push(i);
    else {
      const b = priv.widths[priv.feature[i]];
      let g = byWidth.get(b);
      if (!g) byWidth.set(b, (g = []));
      g.push(i);
    }
  }
  const testOf = new Map<number, string>();
  const le = [...byWidth.values()].reduce((a, g) => a + g.length, 0);
  if (le > 0) ctx.lines.push(`${ind}signal ${t}Le[${le}];`);
  let at = 0;
  for (const [b, g] of [...byWidth.entries()].sort((x, y) => x[0] - y[0])) {
    const c = `${t}Cmp${b}`;
    // The group's thresholds, range-checked to [-2^b, 2^b) by their unpacking.
    const words = packSigned(
      g.map((i) => priv.threshold[i]),
      b + 1,
    );
    emitUnpack(ctx, `${c}T`, g.length, b + 1, params.take(words));
    ctx.lines.push(
      `${ind}var ${c}F[${g.length}] = ${list(g.map((i) => priv.feature[i]))};`,
      `${ind}component ${c}[${g.length}];`,
      `${ind}for (var k = 0; k < ${g.length}; k++) {`,
      `${ind}${ind}${c}[k] = LeThreshold(${b});`,
      `${ind}${ind}${c}[k].x <== ${cur.values}[${c}F[k]];`,
      `${ind}${ind}${c}[k].t <== ${c}T[k];`,
      `${ind}${ind}${t}Le[${at} + k] <== ${c}[k].le;`,
      `${ind}}`,
    );
    g.forEach((i, k) => testOf.set(i, priv.test[i] === PT_LE ? `${t}Le[${at + k}]` : `(1 - ${t}Le[${at + k}])`));
    at += g.length;
  }
  const e0 = params.take(eqs.map((i) => priv.threshold[i]));
  // The leaves' weights, packed at the accumulator's width (the quantizer checks that each fits).
  const weights = leaves.flatMap((i) => layer.leafWeights.slice(i * outSize, (i + 1) * outSize));
  const w0 = params.take(packSigned(weights, layer.leafBits));
  const b0 = params.take(layer.bias);
  const wIdx = new Int32Array(n).fill(-1);
  leaves.forEach((i, k) => (wIdx[i] = k * outSize));
  if (weights.length > 0) emitUnpack(ctx, `${t}W`, weights.length, layer.leafBits, w0);
  if (eqs.length > 0) {
    const c = `${t}Eq`;
    ctx.lines.push(
      `${ind}var ${c}F[${eqs.length}] = ${list(eqs.map((i) => priv.feature[i]))};`,
      `${ind}component ${c}[${eqs.length}];`,
      `${ind}for (var k = 0; k < ${eqs.length}; k++) {`,
      `${ind}${ind}${c}[k] = EqPrivate();`,
      `${ind}${ind}${c}[k].x <== ${cur.values}[${c}F[k]];`,
      `${ind}${ind}${c}[k].t <== ${p}[${e0} + k];`,
      `${ind}}`,
    );
    eqs.forEach((i, k) => testOf.set(i, priv.test[i] === PT_EQ ? `${c}[${k}].eq` : `(1 - ${c}[${k}].eq)`));
  }
  // Subtree values, children before parents: a circom variable per internal node and output (linear), a signal per product.
  const slot = new Int32Array(n).fill(-1);
  internal.forEach((i, k) => (slot[i] = k));
  if (internal.length > 0) {
    ctx.lines.push(`${ind}signal ${t}S[${outSize}][${internal.length}];`, `${ind}var ${t}V[${outSize}][${internal.length}];`);
  }
  const order: number[] = [];
  const stack: [number, boolean][] = [...layer.roots].reverse().map((r) => [r, false]);
  while (stack.length) {
    const [i, done] = stack.pop()!;
    if (priv.test[i] === PT_LEAF) continue;
    if (done) order.push(i);
    else stack.push([i, true], [layer.falseChild[i], false], [layer.trueChild[i], false]);
  }
  const value = (i: number, j: number): string => (priv.test[i] === PT_LEAF ? `${t}W[${wIdx[i] + j}]` : `${t}V[${j}][${slot[i]}]`);
  for (const i of order) {
    const a = layer.trueChild[i];
    const b = layer.falseChild[i];
    for (let j = 0; j < outSize; j++) {
      const s = `${t}S[${j}][${slot[i]}]`;
      ctx.lines.push(`${ind}${s} <== ${testOf.get(i)} * (${value(a, j)} - ${value(b, j)});`, `${ind}${value(i, j)} = ${value(b, j)} + ${s};`);
    }
  }
  return Array.from({ length: outSize }, (_, j) => [`${p}[${b0 + j}]`, ...[...layer.roots].map((r) => value(r, j))]);
}
