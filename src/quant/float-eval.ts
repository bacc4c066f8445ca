import { layerModule } from '../layers/index.ts';
import { applyHead } from '../model/head.ts';
import type { ModelIR } from '../model/ir.ts';

/** Plain float evaluation of the IR (each layer as its module evaluates it, src/layers/): checks the lowering against onnxruntime. */
export function evalFloat(ir: ModelIR, x: ArrayLike<number>): { logits: Float64Array; output: Float64Array } {
  let cur: Float64Array = Float64Array.from(x);
  for (const layer of ir.layers) cur = layerModule(layer.kind).evalFloat(layer, cur);
  return { logits: cur, output: Float64Array.from(applyHead(ir.head, cur)) };
}
