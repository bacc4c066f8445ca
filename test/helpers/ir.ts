import type { DenseLayer, Layer, ModelIR } from '../../src/model/ir.ts';

/** A deterministic pseudo-random source, so generated circuits (and goldens) are stable. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    s ^= s >>> 13;
    return (s >>> 0) / 2 ** 32;
  };
}

export function denseLayer(name: string, inSize: number, outSize: number, rand: () => number, scale = 1): DenseLayer {
  return {
    kind: 'dense',
    name,
    inSize,
    outSize,
    weights: Float64Array.from({ length: inSize * outSize }, () => (rand() * 2 - 1) * scale),
    bias: Float64Array.from({ length: outSize }, () => (rand() * 2 - 1) * 0.5),
    nodes: [name],
  };
}

/** An IR built by hand (the circuit tests do not depend on ONNX import). */
export function handIr(inputSize: number, layers: Layer[], head: ModelIR['head'], outputSize: number): ModelIR {
  return {
    inputs: [{ name: 'x', shape: [inputSize], size: inputSize, offset: 0 }],
    inputSize,
    layers,
    outputSize,
    head,
    outputName: 'y',
    outputShape: [outputSize],
    opset: 13,
  };
}
