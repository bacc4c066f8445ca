import { TREE_LEAF, TREE_MODES, type TreeEnsembleLayer, type TreeMode } from '../model/ir.ts';

/**
 * How a tree ensemble becomes comparisons and path indicators in the circuit, shared by
 * the quantizer, the integer reference, the generator and the constraint estimate.
 *
 * Every node test is reduced to comparison bits `[X_f <= T]`, X_f the feature as the
 * integer round(x * 2^k) (k the feature's scale) and T an integer threshold, so that on
 * the fixed-point grid the integer test is exactly the float one:
 *   x <= t  <=>  X <= floor(t 2^k)          x < t  <=>  X <= ceil(t 2^k) - 1
 *   x >= t  <=>  not (X <= ceil(t 2^k) - 1) x > t  <=>  not (X <= floor(t 2^k))
 *   x == t  <=>  [X <= t 2^k] - [X <= t 2^k - 1] when t 2^k is an integer, else never.
 * A threshold at or beyond the ends of the feature's range [-2^(b-1), 2^(b-1) - 1] is a
 * constant. Bits are shared by every node (of every tree) testing the same feature
 * against the same integer threshold. Per feature with m distinct thresholds:
 * - m <= 2: one range-checked difference per threshold, b + 1 constraints each;
 * - m >= 3: the m bits as a thermometer code (boolean steps rising once, at X's bucket
 *   among the sorted thresholds), pinned by two b-bit range checks (X above the bucket's
 *   lower end, below its upper end): m + 1 + 2b constraints for all m bits. Each bit is
 *   a signal of its own (a one-hot bucket would make each bit a sum of up to m bucket
 *   signals, which every node testing it would then carry: millions of nonzero matrix
 *   entries for a large forest, and a setup and prove time to match).
 * The indicator of a node (1 when the input's path goes through it) is 1 at the root;
 * the true child's is parent * test (one constraint, none when the parent's indicator
 * or the test is constant), the false child's parent - true child's (linear).
 * Outputs are linear in the leaf indicators, then rescaled (round to nearest) once.
 */
export interface TreeFeaturePlan {
  /** Feature index in the layer's input. */
  feature: number;
  /** Signed width b of the feature (it lies in [-2^(b-1), 2^(b-1))). */
  bits: number;
  /** Distinct integer thresholds, ascending, each within [-2^(b-1), 2^(b-1) - 2]. */
  thresholds: bigint[];
  /** Index of this feature's first bit in the layer's bit list. */
  offset: number;
}

export interface TreePlan {
  features: TreeFeaturePlan[];
  bitCount: number;
  /** Per node, its test as c + sA * bit[A] + sB * bit[B] (A, B = -1 when absent). */
  testConst: Int8Array;
  testA: Int32Array;
  signA: Int8Array;
  testB: Int32Array;
  signB: Int8Array;
  /** Per node: its indicator is 0 (IND_ZERO), 1 (IND_ONE), or a signal (IND_VAR). */
  indicator: Uint8Array;
  /** Per node: 1 when its indicator costs a product constraint. */
  product: Uint8Array;
  products: number;
  /** Constraints of all comparisons. */
  comparisons: number;
}

export const IND_ZERO = 0;
export const IND_ONE = 1;
export const IND_VAR = 2;

/** Extra fractional bits of the leaf weights: the sum of n rounded weights then errs by about one unit. */
export function treeShift(layer: Pick<TreeEnsembleLayer, 'roots'>): number {
  return Math.min(8, Math.ceil(Math.log2(Math.max(1, layer.roots.length))));
}

/** Constraints of a feature's m comparison bits at width b. */
export function comparisonCost(m: number, b: number): number {
  if (m === 0) return 0;
  return m <= 2 ? m * (b + 1) : m + 1 + 2 * b;
}

/**
 * The plan of a tree layer whose input feature i is at scale 2^scales[i] and lies in
 * [-2^(widths[i]-1), 2^(widths[i]-1)).
 */
export function planTrees(layer: TreeEnsembleLayer, scales: ArrayLike<number>, widths: ArrayLike<number>): TreePlan {
  const n = layer.feature.length;
  // Term of [X_f <= T]: -1 constant 0, -2 constant 1, else a key into `wanted`.
  const wanted: Map<number, Set<number>> = new Map();
  const le = (f: number, T: number): { c: 0 | 1 } | { f: number; T: number } => {
    const b = widths[f];
    const lo = -(2 ** (b - 1));
    const hi = 2 ** (b - 1) - 1;
    if (T >= hi) return { c: 1 };
    if (T < lo) return { c: 0 };
    let s = wanted.get(f);
    if (!s) wanted.set(f, (s = new Set()));
    s.add(T);
    return { f, T };
  };
  type Term = { c: 0 | 1 } | { f: number; T: number };
  const tests: { c: number; terms: [Term, number][] }[] = new Array(n);
  for (let i = 0; i < n; i++) {
    if (layer.mode[i] === TREE_LEAF) continue;
    const f = layer.feature[i];
    const v = layer.threshold[i] * 2 ** scales[f];
    const fl = Math.floor(v);
    const ce = Math.ceil(v);
    let c = 0;
    const terms: [Term, number][] = [];
    switch (TREE_MODES[layer.mode[i]] as TreeMode) {
      case 'BRANCH_LEQ':
        terms.push([le(f, fl), 1]);
        break;
      case 'BRANCH_LT':
        terms.push([le(f, ce - 1), 1]);
        break;
      case 'BRANCH_GTE':
        c = 1;
        terms.push([le(f, ce - 1), -1]);
        break;
      case 'BRANCH_GT':
        c = 1;
        terms.push([le(f, fl), -1]);
        break;
      case 'BRANCH_EQ':
      case 'BRANCH_NEQ': {
        const neq = TREE_MODES[layer.mode[i]] === 'BRANCH_NEQ';
        c = neq ? 1 : 0;
        if (Number.isInteger(v)) {
          const s = neq ? -1 : 1;
          terms.push([le(f, v), s], [le(f, v - 1), -s]);
        }
        break;
      }
    }
    tests[i] = { c, terms };
  }
  const features: TreeFeaturePlan[] = [];
  const bitIndex = new Map<string, number>();
  let offset = 0;
  let comparisons = 0;
  for (const f of [...wanted.keys()].sort((a, b) => a - b)) {
    const Ts = [...wanted.get(f)!].sort((a, b) => a - b);
    Ts.forEach((T, j) => bitIndex.set(`${f}:${T}`, offset + j));
    features.push({ feature: f, bits: widths[f], thresholds: Ts.map((T) => BigInt(T)), offset });
    comparisons += comparisonCost(Ts.length, widths[f]);
    offset += Ts.length;
  }
  const testConst = new Int8Array(n);
  const testA = new Int32Array(n).fill(-1);
  const signA = new Int8Array(n);
  const testB = new Int32Array(n).fill(-1);
  const signB = new Int8Array(n);
  for (let i = 0; i < n; i++) {
    const t = tests[i];
    if (!t) continue;
    let c = t.c;
    const vars: [number, number][] = [];
    for (const [term, s] of t.terms) {
      if ('c' in term) c += s * term.c;
      else vars.push([bitIndex.get(`${term.f}:${term.T}`)!, s]);
    }
    testConst[i] = c;
    if (vars[0]) [testA[i], signA[i]] = vars[0];
    if (vars[1]) [testB[i], signB[i]] = vars[1];
  }
  // Indicators, from each root down (iteratively).
  const indicator = new Uint8Array(n);
  const product = new Uint8Array(n);
  let products = 0;
  const stack: number[] = [];
  for (const r of layer.roots) {
    indicator[r] = IND_ONE;
    stack.push(r);
  }
  while (stack.length) {
    const i = stack.pop()!;
    if (layer.mode[i] === TREE_LEAF) continue;
    const I = indicator[i];
    const testConstant = testA[i] < 0;
    const a = layer.trueChild[i];
    const b = layer.falseChild[i];
    if (I === IND_ZERO) {
      indicator[a] = indicator[b] = IND_ZERO;
    } else if (testConstant) {
      // The test is 0 or 1: one child inherits the indicator, the other is never reached.
      indicator[a] = testConst[i] === 1 ? I : IND_ZERO;
      indicator[b] = testConst[i] === 1 ? IND_ZERO : I;
    } else {
      // I = 1: the children are the test and 1 - test (linear); else a product and a difference.
      indicator[a] = indicator[b] = IND_VAR;
      if (I === IND_VAR) {
        product[a] = 1;
        products++;
      }
    }
    stack.push(a, b);
  }
  return { features, bitCount: offset, testConst, testA, signA, testB, signB, indicator, product, products, comparisons };
}

/** The test of node i on comparison bits (0/1), as the circuit computes it. */
export function nodeTest(plan: TreePlan, i: number, bits: Uint8Array): number {
  let v = plan.testConst[i];
  if (plan.testA[i] >= 0) v += plan.signA[i] * bits[plan.testA[i]];
  if (plan.testB[i] >= 0) v += plan.signB[i] * bits[plan.testB[i]];
  return v;
}
