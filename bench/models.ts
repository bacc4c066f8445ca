import path from 'node:path';
import type { Layer } from '../src/model/ir.ts';
import { denseLayer, handIr, rng } from '../test/helpers/ir.ts';
import type { LoadedModel } from '../src/pipeline/index.ts';
import { sha256Hex } from '../src/core/hash.ts';
import os from 'node:os';
import type { ModelLimits } from '../src/model/limits.ts';
import { lenet5Onnx, lenetImages, lenetLimits } from '../test/helpers/lenet.ts';
import { buildOnnx, type GraphSpec } from '../src/model/index.ts';
import { residualConv, residualMlp } from '../test/helpers/dag.ts';

export const REPO = path.resolve(import.meta.dirname, '..');
export const SHARED = path.resolve(REPO, '..', 'shared', 'fixtures');

export type BenchModel =
  | {
      name: string;
      kind: 'onnx';
      file: string;
      input?: string;
      fidelityInput?: string;
      /** A model the bench builds (written to `file` first). */
      build?: () => Uint8Array;
      /** Fidelity rows and the proven input, when the model has no input file. */
      rows?: () => number[][];
      /** Limits over the defaults, and the largest development ptau the setup may make. */
      limits?: Partial<ModelLimits>;
      maxPtauPower?: number;
    }
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

const ezkl = (n: string): BenchModel => ({
  name: `ezkl/${n}`,
  kind: 'onnx',
  file: path.join(SHARED, 'ezkl', n, 'network.onnx'),
  input: path.join(SHARED, 'ezkl', n, 'input.json'),
});

/**
 * LeNet-5 on 28x28 with seeded random weights (test/helpers/lenet.ts). Over the default
 * limits (65,536 constraints, 2^16 powers of tau): the bench raises maxConstraints and
 * lets the setup generate a larger development ptau, as an operator would with
 * ZKINFER_MAX_CONSTRAINTS and ZKINFER_MAX_PTAU_POWER (or a ceremony ptau file).
 */
const lenet = (pool: 'avg' | 'max'): BenchModel => ({
  name: `lenet-5 ${pool}pool`,
  kind: 'onnx',
  file: path.join(os.tmpdir(), `zkinfer-bench-lenet5-${pool}.onnx`),
  build: () => lenet5Onnx(pool),
  rows: () => lenetImages(16),
  limits: { ...lenetLimits(pool), maxConstraints: 1 << 19 },
  maxPtauPower: 19,
});
export const LENET_AVG = lenet('avg');
export const LENET_MAX = lenet('max');

/** A graph that is a DAG (test/helpers/dag.ts), with 16 seeded rows in [-1.5, 1.5]. */
const dag = (name: string, graph: () => GraphSpec, inputSize: number): BenchModel => ({
  name,
  kind: 'onnx',
  file: path.join(os.tmpdir(), `zkinfer-bench-${name.replace(/\W+/g, '-')}.onnx`),
  build: () => buildOnnx(graph()),
  rows: () => {
    const r = rng(inputSize);
    return Array.from({ length: 16 }, () => Array.from({ length: inputSize }, () => (r() * 2 - 1) * 1.5));
  },
});
export const DAG_MLP = dag('residual mlp 6-8-6-3 (DAG)', residualMlp, 6);
export const DAG_CONV = dag('residual conv block 2x6x6 (DAG)', residualConv, 72);

/** Compile-only table (issue: constraints per neuron). */
export const COMPILE_SET: BenchModel[] = [
  {
    name: 'loan example',
    kind: 'onnx',
    file: path.join(REPO, 'examples', 'loan', 'loan-model.onnx'),
    input: path.join(REPO, 'examples', 'loan', 'applicant.json'),
    fidelityInput: path.join(REPO, 'examples', 'loan', 'applicants.json'),
  },
  ...[
    '1l_linear',
    '1l_mlp',
    '2l_relu_fc',
    'sklearn_mlp',
    '1l_relu',
    '1l_flatten',
    '1l_reshape',
    '1l_sigmoid',
    '1l_softmax',
    '1l_batch_norm',
    'clip',
    'large_mlp',
    '1l_conv',
    '4l_relu_conv_fc',
  ].map(ezkl),
  { name: 'credit/fedos94', kind: 'onnx', file: path.join(SHARED, 'credit', 'fedos94-credit-scoring', 'credit_model.onnx') },
  { name: 'credit/cybersuraksha', kind: 'onnx', file: path.join(SHARED, 'credit', 'cybersuraksha-loan-eligibility', 'loan_eligibility.onnx') },
  { name: 'mlp 784-64-10', kind: 'synthetic', sizes: [784, 64, 10], head: 'softmax' },
  LENET_AVG,
  // LENET_MAX (239k constraints) is left out: circom2 did not compile it within 30 minutes.
  DAG_MLP,
  DAG_CONV,
];

/** The proving ladder. */
export const PROVE_SET: BenchModel[] = [
  COMPILE_SET[0],
  { name: 'mlp 7-20-20-3', kind: 'synthetic', sizes: [7, 20, 20, 3], head: 'softmax' },
  { name: 'mlp 41-82-82-1', kind: 'synthetic', sizes: [41, 82, 82, 1], head: 'sigmoid' },
  { name: 'mlp 784-128-10', kind: 'synthetic', sizes: [784, 128, 10], head: 'softmax' },
  { name: 'mlp 784-128-10 calibrated', kind: 'synthetic', sizes: [784, 128, 10], head: 'softmax', calibration: 'pixels' },
  ezkl('large_mlp'),
  LENET_AVG,
  DAG_MLP,
  DAG_CONV,
];
