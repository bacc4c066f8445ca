import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildOnnx, loadModel, runOnnxRuntime } from '../../src/model/index.ts';
import { evalFloat } from '../../src/quant/float-eval.ts';
import { applyHead } from '../../src/model/head.ts';
import { compileModel, proveModel, setupModel } from '../../src/pipeline/index.ts';
import { DEFAULT_SETTINGS, estimateConstraints, quantizeModel, runReference } from '../../src/quant/index.ts';
import { verifyBundle } from '../../src/verifier/index.ts';
import { rng } from '../helpers/ir.ts';
import { lenet5Onnx, lenetLimits, lenetImages } from '../helpers/lenet.ts';

/**
 * Convolutions end to end: a small conv model (1x8x8 image, Conv, ReLU, MaxPool, Gemm)
 * compiled with circom, set up, proved with Groth16 and verified; and LeNet-5 on 28x28
 * (proved in `npm run bench`), whose integer reference is checked here against
 * onnxruntime without proving.
 */
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-conv-e2e-'));
});

function smallConv(): Uint8Array {
  const r = rng(31);
  const rand = (n: number, s: number) => Array.from({ length: n }, () => (r() * 2 - 1) * s);
  return buildOnnx({
    inputs: [{ name: 'image', dims: ['batch', 1, 8, 8] }],
    output: { name: 'probs', dims: ['batch', 4] },
    initializers: [
      { name: 'W', dims: [2, 1, 3, 3], data: rand(18, 0.6) },
      { name: 'B', dims: [2], data: rand(2, 0.1) },
      { name: 'F', dims: [4, 32], data: rand(128, 0.4) },
      { name: 'c', dims: [4], data: rand(4, 0.1) },
    ],
    nodes: [
      { op: 'Conv', name: 'conv', inputs: ['image', 'W', 'B'], outputs: ['a'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'Relu', name: 'relu', inputs: ['a'], outputs: ['b'] },
      { op: 'MaxPool', name: 'pool', inputs: ['b'], outputs: ['p'], attrs: { kernel_shape: [2, 2], strides: [2, 2] } },
      { op: 'Flatten', name: 'flat', inputs: ['p'], outputs: ['f'] },
      { op: 'Gemm', name: 'fc', inputs: ['f', 'F', 'c'], outputs: ['logits'], attrs: { transB: 1 } },
      { op: 'Softmax', name: 'sm', inputs: ['logits'], outputs: ['probs'], attrs: { axis: 1 } },
    ],
  });
}

describe('a small conv model (Conv 2@3x3, ReLU, MaxPool 2x2, Gemm)', () => {
  it('proves and verifies end to end; the proven logits are the integer reference', async () => {
    const file = path.join(dir, 'small-conv.onnx');
    await writeFile(file, smallConv());
    const m = await compileModel(file, { fidelity: false });
    expect(m.quantized.layers.map((l) => l.kind)).toEqual(['sparse', 'maxpool', 'relu', 'dense']);
    expect(m.circuit.constraints).toBe(estimateConstraints(m.ir, m.settings).total);
    const setup = await setupModel(m);
    const x = lenetImages(2, 4)[1].slice(0, 64);
    const { bundle } = await proveModel(m, setup, { input_data: [x] });
    const v = await verifyBundle(bundle);
    expect(v.valid).toBe(true);
    const ref = runReference(m.quantized, x);
    expect(v.outputs!.integers).toEqual(ref.output.map(String));
    // And the float lowering is onnxruntime's.
    const want = await runOnnxRuntime(file, x, m.ir);
    evalFloat(m.ir, x).output.forEach((p, i) => expect(Math.abs(p - want[i])).toBeLessThan(1e-5));
  });
});

describe.each(['avg', 'max'] as const)('LeNet-5 (%s pool) on 28x28', (pool) => {
  it("lowers exactly and its integer reference makes onnxruntime's decisions", async () => {
    const file = path.join(dir, `lenet-${pool}.onnx`);
    await writeFile(file, lenet5Onnx(pool));
    const { ir } = await loadModel(file, { limits: lenetLimits(pool) });
    expect(ir.layers.map((l) => l.kind)).toEqual(
      pool === 'avg'
        ? ['sparse', 'relu', 'sparse', 'relu', 'dense', 'relu', 'dense', 'relu', 'dense']
        : ['sparse', 'maxpool', 'relu', 'sparse', 'maxpool', 'relu', 'dense', 'relu', 'dense', 'relu', 'dense'],
    );
    const q = quantizeModel(ir, DEFAULT_SETTINGS);
    let maxErr = 0;
    for (const x of lenetImages(8)) {
      const want = await runOnnxRuntime(file, x, ir);
      const f = evalFloat(ir, x).output;
      f.forEach((p, i) => expect(Math.abs(p - want[i])).toBeLessThan(1e-4));
      const ref = runReference(q, x);
      const probs = applyHead(
        'softmax',
        ref.output.map((v) => Number(v) / 2 ** DEFAULT_SETTINGS.scaleBits),
      );
      probs.forEach((p, i) => (maxErr = Math.max(maxErr, Math.abs(p - want[i]))));
      const best = want.indexOf(Math.max(...want));
      expect(Number(ref.decision[0])).toBe(best);
    }
    expect(maxErr).toBeLessThan(0.02);
  });
});
