import type { DenseLayer, Layer, MaxPoolLayer, ModelIR, SparseLayer } from '../../src/model/ir.ts';

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

/** A random sparse layer: row o reads `perRow` distinct inputs. */
export function sparseLayer(name: string, inSize: number, outSize: number, perRow: number, rand: () => number, scale = 1): SparseLayer {
  const rowPtr = new Int32Array(outSize + 1);
  const cols: number[] = [];
  for (let o = 0; o < outSize; o++) {
    const picked = new Set<number>();
    while (picked.size < Math.min(perRow, inSize)) picked.add(Math.floor(rand() * inSize));
    cols.push(...[...picked].sort((a, b) => a - b));
    rowPtr[o + 1] = cols.length;
  }
  return {
    kind: 'sparse',
    name,
    inSize,
    outSize,
    rowPtr,
    cols: Int32Array.from(cols),
    vals: Float64Array.from(cols, () => (rand() * 2 - 1) * scale),
    bias: Float64Array.from({ length: outSize }, () => (rand() * 2 - 1) * 0.5),
    nodes: [name],
  };
}

/** A max pool over the given windows (lists of input indices). */
export function maxPoolLayer(name: string, inSize: number, windows: number[][]): MaxPoolLayer {
  const rowPtr = new Int32Array(windows.length + 1);
  windows.forEach((w, o) => (rowPtr[o + 1] = rowPtr[o] + w.length));
  return { kind: 'maxpool', name, inSize, outSize: windows.length, rowPtr, idx: Int32Array.from(windows.flat()), nodes: [name] };
}
