import path from 'node:path';
import type { Layer } from '../src/model/ir.ts';
import { denseLayer, handIr, rng } from '../test/helpers/ir.ts';
import type { LoadedModel } from '../src/pipeline/index.ts';
import { sha256Hex } from '../src/store/paths.ts';

export const REPO = path.resolve(import.meta.dirname, '..');
export const SHARED = path.resolve(REPO, '..', 'shared', 'fixtures');

export type BenchModel =
  | { name: string; kind: 'onnx'; file: string; input?: string; fidelityInput?: string }
  | { name: string; kind: 'synthetic'; sizes: number[]; head: 'sigmoid' | 'softmax'; calibration?: 'pixels' };

/**
 * Calibration rows of 8-bit pixels (k / 255, in [0, 1]), seeded: every feature sees 0 and
 * 1 and values between, as an image data set would. Per-feature quantization
 * (src/quant/input-quant.ts) then sizes each input's range check from them.
 */
export function pixelRows(size: number, count = 32, seed = 3): Float64Array[] {
  const r = rng(seed);
  return Array.from({ length: count }, (_, k) => Float64Array.from({ length: size }, () => (k === 0 ? 0 : k === 1 ? 1 : Math.floor(r() * 256) / 255)));
}

/** A seeded MLP with ReLU between layers and weights ~ U(-1, 1) / sqrt(fan-in). */
export function syntheticModel(sizes: number[], head: 'sigmoid' | 'softmax'): LoadedModel {
  const r = rng(sizes.reduce((a, b) => a * 31 + b, 7));
  const layers: Layer[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    layers.push(denseLayer(`fc${i + 1}`, sizes[i], sizes[i + 1], r, 1 / Math.sqrt(sizes[i])));
    if (i + 2 < sizes.length) layers.push({ kind: 'relu', name: `relu${i + 1}`, size: sizes[i + 1], nodes: [] });
  }
  const ir = handIr(sizes[0], layers, head, sizes.at(-1)!);
  return { ir, bytes: new TextEncoder().encode(sha256Hex('synthetic', sizes.join('-'), head)), externalBytes: [] };
}

const ezkl = (n: string): BenchModel => ({ name: `ezkl/${n}`, kind: 'onnx', file: path.join(SHARED, 'ezkl', n, 'network.onnx'), input: path.join(SHARED, 'ezkl', n, 'input.json') });

/** Compile-only table (issue: constraints per neuron). */
export const COMPILE_SET: BenchModel[] = [
  {
    name: 'loan example',
    kind: 'onnx',
    file: path.join(REPO, 'examples', 'loan', 'loan-model.onnx'),
    input: path.join(REPO, 'examples', 'loan', 'applicant.json'),
    fidelityInput: path.join(REPO, 'examples', 'loan', 'applicants.json'),
  },
  ...['1l_linear', '1l_mlp', '2l_relu_fc', 'sklearn_mlp', '1l_relu', '1l_flatten', '1l_reshape', '1l_sigmoid', '1l_softmax', '1l_batch_norm', 'clip', 'large_mlp'].map(ezkl),
  { name: 'credit/fedos94', kind: 'onnx', file: path.join(SHARED, 'credit', 'fedos94-credit-scoring', 'credit_model.onnx') },
  { name: 'credit/cybersuraksha', kind: 'onnx', file: path.join(SHARED, 'credit', 'cybersuraksha-loan-eligibility', 'loan_eligibility.onnx') },
  { name: 'mlp 784-64-10', kind: 'synthetic', sizes: [784, 64, 10], head: 'softmax' },
];

/** The proving ladder. */
export const PROVE_SET: BenchModel[] = [
  COMPILE_SET[0],
  { name: 'mlp 7-20-20-3', kind: 'synthetic', sizes: [7, 20, 20, 3], head: 'softmax' },
  { name: 'mlp 41-82-82-1', kind: 'synthetic', sizes: [41, 82, 82, 1], head: 'sigmoid' },
  { name: 'mlp 784-128-10', kind: 'synthetic', sizes: [784, 128, 10], head: 'softmax' },
  { name: 'mlp 784-128-10 calibrated', kind: 'synthetic', sizes: [784, 128, 10], head: 'softmax', calibration: 'pixels' },
  ezkl('large_mlp'),
];
