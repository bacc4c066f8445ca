import { buildOnnx, type GraphSpec, type NodeSpec } from '../../src/model/build-onnx.ts';
import { rng } from './ir.ts';

/**
 * LeNet-5 on a 1x28x28 image, built here (no training: weights are drawn from a seeded
 * PRNG, uniform with variance 2 / fan-in so activations keep their scale through the
 * layers). conv 6@5x5 pad 2 -> pool 2x2 -> ReLU -> conv 16@5x5 -> pool 2x2 -> ReLU ->
 * flatten -> 120 -> ReLU -> 84 -> ReLU -> 10 -> Softmax.
 *
 * `pool: 'avg'` is LeCun's order (subsampling, then the activation): each conv and the
 * average pool after it are one linear map, rescaled once per pooled value.
 * `pool: 'max'` is the common modern variant, conv -> ReLU -> MaxPool; the lowering
 * moves the pool before the ReLU (they commute) and the circuit takes the max of the
 * conv's accumulators before rescaling.
 */
export function lenet5Onnx(pool: 'avg' | 'max', seed = 5): Uint8Array {
  const r = rng(seed);
  const init = (name: string, dims: number[], fanIn: number) => ({
    name,
    dims,
    data: Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => (r() * 2 - 1) * Math.sqrt(6 / fanIn)),
  });
  const bias = (name: string, n: number) => ({ name, dims: [n], data: Array.from({ length: n }, () => (r() * 2 - 1) * 0.05) });
  const stage = (i: number, input: string, output: string): NodeSpec[] => {
    const conv: NodeSpec = {
      op: 'Conv',
      name: `conv${i}`,
      inputs: [input, `W${i}`, `B${i}`],
      outputs: [`c${i}`],
      attrs: { kernel_shape: [5, 5], ...(i === 1 ? { pads: [2, 2, 2, 2] } : {}) },
    };
    const poolAttrs = { kernel_shape: [2, 2], strides: [2, 2] };
    if (pool === 'avg') {
      return [
        conv,
        { op: 'AveragePool', name: `pool${i}`, inputs: [`c${i}`], outputs: [`p${i}`], attrs: poolAttrs },
        { op: 'Relu', name: `relu${i}`, inputs: [`p${i}`], outputs: [output] },
      ];
    }
    return [
      conv,
      { op: 'Relu', name: `relu${i}`, inputs: [`c${i}`], outputs: [`r${i}`] },
      { op: 'MaxPool', name: `pool${i}`, inputs: [`r${i}`], outputs: [output], attrs: poolAttrs },
    ];
  };
  const g: GraphSpec = {
    inputs: [{ name: 'image', dims: ['batch', 1, 28, 28] }],
    output: { name: 'probs', dims: ['batch', 10] },
    initializers: [
      init('W1', [6, 1, 5, 5], 25),
      bias('B1', 6),
      init('W2', [16, 6, 5, 5], 150),
      bias('B2', 16),
      init('F3', [120, 400], 400),
      bias('b3', 120),
      init('F4', [84, 120], 120),
      bias('b4', 84),
      init('F5', [10, 84], 84),
      bias('b5', 10),
    ],
    nodes: [
      ...stage(1, 'image', 's1'),
      ...stage(2, 's1', 's2'),
      { op: 'Flatten', name: 'flatten', inputs: ['s2'], outputs: ['f'] },
      { op: 'Gemm', name: 'fc3', inputs: ['f', 'F3', 'b3'], outputs: ['h3'], attrs: { transB: 1 } },
      { op: 'Relu', name: 'relu3', inputs: ['h3'], outputs: ['a3'] },
      { op: 'Gemm', name: 'fc4', inputs: ['a3', 'F4', 'b4'], outputs: ['h4'], attrs: { transB: 1 } },
      { op: 'Relu', name: 'relu4', inputs: ['h4'], outputs: ['a4'] },
      { op: 'Gemm', name: 'fc5', inputs: ['a4', 'F5', 'b5'], outputs: ['logits'], attrs: { transB: 1 } },
      { op: 'Softmax', name: 'softmax', inputs: ['logits'], outputs: ['probs'], attrs: { axis: 1 } },
    ],
  };
  return buildOnnx(g);
}

/**
 * LeNet-5 needs wider layers than the defaults (conv1 writes 6 x 28 x 28 = 4704 values
 * before its pool folds in), and the max-pool variant, whose convolutions do not fold
 * with their pools, more parameters (about 430,000 conv, pool and dense terms).
 */
export function lenetLimits(pool: 'avg' | 'max') {
  return { maxLayerWidth: 8192, ...(pool === 'max' ? { maxParameters: 500_000 } : {}) };
}

/**
 * Test images in [0, 1]: uniform noise, and strokes (a few random line segments drawn
 * on a blank canvas, like handwriting), so that inputs are not all alike.
 */
export function lenetImages(n: number, seed = 9): number[][] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, k) => {
    if (k % 2 === 0) return Array.from({ length: 784 }, () => r());
    const img = new Array(784).fill(0);
    for (let s = 0; s < 3; s++) {
      const [x0, y0, x1, y1] = [r(), r(), r(), r()].map((v) => 4 + v * 20);
      for (let t = 0; t <= 40; t++) {
        const x = Math.round(x0 + ((x1 - x0) * t) / 40);
        const y = Math.round(y0 + ((y1 - y0) * t) / 40);
        for (const [dx, dy] of [
          [0, 0],
          [1, 0],
          [0, 1],
        ])
          img[(y + dy) * 28 + x + dx] = 1;
      }
    }
    return img;
  });
}
