import { TREE_LEAF, TREE_MODES, type TreeEnsembleLayer, type TreeMode } from './ir.ts';

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
    while (layer.mode[i] !== TREE_LEAF) i = treeTest(layer.mode[i], Math.fround(x[layer.feature[i]]), layer.threshold[i]) ? layer.trueChild[i] : layer.falseChild[i];
    for (let j = 0; j < layer.outSize; j++) y[j] += layer.leafWeights[i * layer.outSize + j];
  }
  return y;
}
