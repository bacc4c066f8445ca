import { TREE_LEAF, TREE_MODES, type ModelIR, type TreeEnsembleLayer, type TreeMode } from '../model/ir.ts';
import { treeTest } from '../layers/tree-ensemble.ts';
import type { QuantizedModel } from './quantize.ts';
import { featureName } from './reference.ts';

/**
 * Tree splits on rounded inputs. A first tree ensemble compares each feature as the
 * integer X = round(x * 2^k) (k its scale), against integer thresholds chosen so that on
 * the grid the test is the float one (tree-plan.ts). An input between grid points is
 * rounded first, so near a threshold t the integer test may go the other way than
 * onnxruntime's float32 test: for x <= t (T = floor(t 2^k)) the integer boundary is
 * (T + 1/2) 2^-k, for x < t (T = ceil(t 2^k) - 1) it is (T + 1/2) 2^-k too, and an
 * equality holds over a whole grid step. Add one float32 ulp of t (onnxruntime compares
 * float32(x), and the circuit rounds x itself): an input farther than that from every
 * threshold of its feature is decided as in float. The margin is prover-side information
 * for the fidelity report and the proof's warnings; nothing here changes what is proven.
 */
export interface SplitMargin {
  /** Feature name, as errors name it (`x[3]`, or the input's name). */
  feature: string;
  /** Flat input index. */
  index: number;
  /** The feature's scale bits: its grid step is 2^-scaleBits. */
  scaleBits: number;
  /** Distinct thresholds the trees compare it with. */
  thresholds: number;
  /** An input farther than this from every threshold of the feature is decided as in float (onnxruntime). */
  margin: number;
}

/** The distance from t within which the integer test of node mode `mode` at scale 2^k may differ from the float one. */
export function splitZone(mode: TreeMode, t: number, k: number): number {
  const h = 2 ** -k;
  const v = t * 2 ** k;
  let d: number;
  if (mode === 'BRANCH_LEQ' || mode === 'BRANCH_GT') d = Math.abs(t - (Math.floor(v) + 0.5) * h);
  else if (mode === 'BRANCH_LT' || mode === 'BRANCH_GTE') d = Math.abs(t - (Math.ceil(v) - 0.5) * h);
  else d = h / 2;
  return d + float32Ulp(t);
}

/** The spacing of float32 values at t's magnitude (an upper bound: the next binade's). */
function float32Ulp(t: number): number {
  const a = Math.abs(t);
  if (a < 2 ** -126) return 2 ** -149;
  return 2 ** (Math.ceil(Math.log2(a)) - 23);
}

/** The integer test as the circuit decides it (tree-plan.ts), on the rounded feature X. */
export function integerSplit(mode: TreeMode, X: number, t: number, k: number): boolean {
  const v = t * 2 ** k;
  switch (mode) {
    case 'BRANCH_LEQ':
      return X <= Math.floor(v);
    case 'BRANCH_LT':
      return X <= Math.ceil(v) - 1;
    case 'BRANCH_GTE':
      return !(X <= Math.ceil(v) - 1);
    case 'BRANCH_GT':
      return !(X <= Math.floor(v));
    case 'BRANCH_EQ':
      return Number.isInteger(v) && X === v;
    case 'BRANCH_NEQ':
      return !(Number.isInteger(v) && X === v);
  }
}

/** The model's first layer when it is a tree ensemble reading the inputs (later ones read activations, not applicants' values). */
function firstTrees(ir: Pick<ModelIR, 'layers'>): TreeEnsembleLayer | null {
  const l = ir.layers[0];
  return l && l.kind === 'tree_ensemble' ? l : null;
}

function scaleOf(q: Pick<QuantizedModel, 'inputQuant' | 'settings'>, f: number): number {
  return q.inputQuant?.scaleBits[f] ?? q.settings.scaleBits;
}

/** Per feature the first tree ensemble reads: its grid and the distance from its thresholds beyond which splits are decided as in float. */
export function splitMargins(ir: Pick<ModelIR, 'layers'>, q: Pick<QuantizedModel, 'inputQuant' | 'settings' | 'inputs'>): SplitMargin[] {
  const trees = firstTrees(ir);
  if (!trees) return [];
  const byFeature = new Map<number, { margin: number; thresholds: Set<number> }>();
  for (let i = 0; i < trees.feature.length; i++) {
    if (trees.mode[i] === TREE_LEAF) continue;
    const f = trees.feature[i];
    const d = splitZone(TREE_MODES[trees.mode[i]], trees.threshold[i], scaleOf(q, f));
    const e = byFeature.get(f) ?? { margin: 0, thresholds: new Set<number>() };
    e.margin = Math.max(e.margin, d);
    e.thresholds.add(trees.threshold[i]);
    byFeature.set(f, e);
  }
  return [...byFeature.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([f, e]) => ({ feature: featureName(q, f), index: f, scaleBits: scaleOf(q, f), thresholds: e.thresholds.size, margin: e.margin }));
}

/**
 * Prover-side warnings for one input: each feature that lies within a threshold's zone
 * (splitZone) of a split of the first tree ensemble, saying whether the proven test there
 * goes the other way than onnxruntime's float32 test. Neither the input's value nor its
 * distance is written; a private model's thresholds are not either.
 */
export function splitWarnings(
  ir: Pick<ModelIR, 'layers'>,
  q: Pick<QuantizedModel, 'inputQuant' | 'settings' | 'inputs' | 'private'>,
  x: ArrayLike<number>,
  X: readonly bigint[],
): string[] {
  const trees = firstTrees(ir);
  if (!trees) return [];
  const hits = new Map<number, { near: Set<number>; differs: Set<number>; margin: number }>();
  for (let i = 0; i < trees.feature.length; i++) {
    if (trees.mode[i] === TREE_LEAF) continue;
    const f = trees.feature[i];
    const t = trees.threshold[i];
    const mode = TREE_MODES[trees.mode[i]];
    const k = scaleOf(q, f);
    const zone = splitZone(mode, t, k);
    const differs = treeTest(trees.mode[i], Math.fround(x[f]), t) !== integerSplit(mode, Number(X[f]), t, k);
    if (!differs && Math.abs(x[f] - t) > zone) continue;
    const h = hits.get(f) ?? { near: new Set<number>(), differs: new Set<number>(), margin: 0 };
    h.near.add(t);
    if (differs) h.differs.add(t);
    h.margin = Math.max(h.margin, zone);
    hits.set(f, h);
  }
  return [...hits.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([f, h]) => {
      const where = q.private ? `${h.near.size} split(s)` : `the split${h.near.size > 1 ? 's' : ''} at ${[...h.near].join(', ')}`;
      const verdict =
        h.differs.size > 0
          ? `the proof takes the other branch than float (onnxruntime) at ${h.differs.size} of them: its decision may differ`
          : 'here each is still decided as in float';
      return (
        `prover-side, not proven: ${featureName(q, f)} lies within ${fmt(h.margin)} of ${where}, closer than its grid ` +
        `2^-${scaleOf(q, f)} guarantees a float decision; ${verdict}`
      );
    });
}

function fmt(v: number): string {
  return Number(v.toPrecision(3)).toExponential();
}
