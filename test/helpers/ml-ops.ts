import type { Layer } from '../../src/model/ir.ts';

/** 3 -> 4: rows 0 and 2 copy inputs 2 and 0 exactly (not rescaled, so without sign digits), rows 1 and 3 mix them. */
export function copyDense(): Layer {
  return {
    kind: 'dense',
    name: 'pick',
    inSize: 3,
    outSize: 4,
    weights: Float64Array.of(0, 0, 1, 0.5, -0.25, 0.75, 1, 0, 0, -0.3, 0.6, 0.2),
    bias: Float64Array.of(0, 0.1, 0, -0.2),
    nodes: ['pick'],
  };
}
