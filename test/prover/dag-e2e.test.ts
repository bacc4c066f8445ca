import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildOnnx, type GraphSpec, loadModel, runOnnxRuntime } from '../../src/model/index.ts';
import { compileModel, proveModel, setupModel } from '../../src/pipeline/index.ts';
import { DEFAULT_SETTINGS, estimateConstraints, quantizeInput, quantizeModel, runReference } from '../../src/quant/index.ts';
import { verifyBundle } from '../../src/verifier/index.ts';
import {
  channelGate,
  columnsBinarized,
  nhwcConv,
  normalizedBranch,
  polynomial,
  selections,
  rand,
  residualConv,
  residualMlp,
  threeReads,
  twoInputs,
  variadic,
  wideDeep,
} from '../helpers/dag.ts';
import { expectMatches, harness, witnessOutputs } from '../helpers/circuit.ts';

/**
 * Graphs that are DAGs, compiled with circom: the constraint count circom reports is the
 * one the generator states (and the estimate), and the witness is the integer reference
 * bit for bit; a residual MLP is proved with Groth16 and verified.
 */
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-dag-e2e-'));
});

async function write(name: string, g: GraphSpec): Promise<string> {
  const file = path.join(dir, `${name}.onnx`);
  await writeFile(file, buildOnnx(g));
  return file;
}

const models: [string, () => GraphSpec][] = [
  ['residual MLP', residualMlp],
  ['polynomial (Mul(x, x) + x)', polynomial],
  ['wide and deep (Concat)', wideDeep],
  ['residual conv block', residualConv],
  ['channel gate (broadcast Mul)', () => channelGate('Relu')],
  ['three reads and a Sub', threeReads],
  ['two graph inputs read apart', twoInputs],
  ['Max, Sum and Mean of several values', variadic],
  ['a ColumnTransformer with a Binarizer on some columns', columnsBinarized],
  ['an L2 Normalizer on a branch', normalizedBranch],
  ['an NHWC image transposed (tf2onnx), ReduceMean', nhwcConv],
  ['Slice, Gather, Neg and ReduceSum of activations', selections],
];

describe.each(models)('%s compiled with circom', (name, graph) => {
  it('circom counts the stated constraints; the witness is the integer reference', async () => {
    const file = await write(name.replace(/\W+/g, '-'), graph());
    const { ir } = await loadModel(file);
    const q = quantizeModel(ir, DEFAULT_SETTINGS);
    const h = await harness(q);
    expect(h.compiled.constraints).toBe(h.gen.constraints);
    expect(h.gen.constraints).toBe(estimateConstraints(ir, DEFAULT_SETTINGS).total);
    for (let t = 0; t < 3; t++) {
      const x = rand(ir.inputSize, 1.5);
      const ref = runReference(q, x);
      const w = await h.witness(quantizeInput(q, x));
      expectMatches(ref, witnessOutputs(w, q, h.gen.decisionSize));
    }
  });
});

describe('a residual MLP end to end', () => {
  it("proves and verifies; the proven decision is onnxruntime's", async () => {
    const file = await write('residual-mlp-e2e', residualMlp());
    const m = await compileModel(file, { fidelity: false });
    const setup = await setupModel(m);
    const x = rand(m.ir.inputSize, 1.5);
    const { bundle } = await proveModel(m, setup, { input_data: [x] });
    const v = await verifyBundle(bundle);
    expect(v.valid).toBe(true);
    const ref = runReference(m.quantized, x);
    expect(v.outputs!.integers).toEqual(ref.output.map(String));
    const want = await runOnnxRuntime(file, x, m.ir);
    expect(Number(ref.decision[0])).toBe(want.indexOf(Math.max(...want)));
  });
});
