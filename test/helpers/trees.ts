import { TREE_LEAF, TREE_MODES, type TreeEnsembleLayer, type TreeMode } from '../../src/model/ir.ts';

/** A tree written as nested nodes: a test with its true ('yes') and false ('no') branches, or a leaf's weights. */
export type TreeSpec = { f: number; mode: TreeMode; t: number; yes: TreeSpec; no: TreeSpec } | { leaf: number[] };

/** A tree_ensemble layer from nested trees (nodes numbered depth first, tree after tree). */
export function treeLayer(name: string, inSize: number, outSize: number, trees: TreeSpec[], base: number[]): TreeEnsembleLayer {
  const feature: number[] = [];
  const mode: number[] = [];
  const threshold: number[] = [];
  const trueChild: number[] = [];
  const falseChild: number[] = [];
  const leafWeights: number[] = [];
  const add = (n: TreeSpec): number => {
    const i = feature.length;
    feature.push(-1);
    mode.push(TREE_LEAF);
    threshold.push(0);
    trueChild.push(-1);
    falseChild.push(-1);
    leafWeights.push(...new Array(outSize).fill(0));
    if ('leaf' in n) {
      n.leaf.forEach((v, j) => (leafWeights[i * outSize + j] = v));
      return i;
    }
    feature[i] = n.f;
    mode[i] = TREE_MODES.indexOf(n.mode);
    threshold[i] = n.t;
    trueChild[i] = add(n.yes);
    falseChild[i] = add(n.no);
    return i;
  };
  const roots = trees.map(add);
  return {
    kind: 'tree_ensemble',
    name,
    inSize,
    outSize,
    roots: Int32Array.from(roots),
    feature: Int32Array.from(feature),
    mode: Uint8Array.from(mode),
    threshold: Float64Array.from(threshold),
    trueChild: Int32Array.from(trueChild),
    falseChild: Int32Array.from(falseChild),
    leafWeights: Float64Array.from(leafWeights),
    base: Float64Array.from(base),
    nodes: [name],
  };
}

/** Trees using every branch mode, shared and bucketed thresholds, a constant test, an unreachable branch and a lone leaf. */
export function everyModeTrees(inSize: number, outSize: number): TreeSpec[] {
  const leaf = (...v: number[]): TreeSpec => ({ leaf: Array.from({ length: outSize }, (_, j) => v[j % v.length]) });
  return [
    {
      f: 0,
      mode: 'BRANCH_LEQ',
      t: 0.5,
      yes: { f: 1, mode: 'BRANCH_LT', t: -0.25, yes: leaf(1.25, -0.5), no: { f: 0, mode: 'BRANCH_GT', t: -1.5, yes: leaf(0.5, 0.75), no: leaf(-2, 1) } },
      no: { f: 0, mode: 'BRANCH_GTE', t: 1.5, yes: leaf(-1, 0.25), no: { f: inSize - 1, mode: 'BRANCH_EQ', t: 0.5, yes: leaf(3, -3), no: leaf(0.125, 0) } },
    },
    {
      f: 0,
      mode: 'BRANCH_LEQ',
      t: 0.5, // the same threshold as tree 0: a shared bit
      yes: { f: 0, mode: 'BRANCH_NEQ', t: -0.75, yes: { f: 1, mode: 'BRANCH_LEQ', t: 1e6, yes: leaf(0.25, 0.5), no: leaf(9, 9) }, no: leaf(-0.5, 2) },
      no: { f: 1, mode: 'BRANCH_GT', t: 0.3, yes: { f: 0, mode: 'BRANCH_LT', t: 2.25, yes: leaf(1, -1), no: leaf(-1, 1) }, no: leaf(0.75, 0.25) },
    },
    leaf(0.5, -0.25),
    { f: 1, mode: 'BRANCH_EQ', t: 0.3, yes: leaf(4, 4), no: { f: inSize - 1, mode: 'BRANCH_NEQ', t: 0.5, yes: leaf(-0.375, 0.625), no: leaf(1.5, -1.5) } },
  ];
}
