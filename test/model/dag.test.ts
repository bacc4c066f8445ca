import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildOnnx, type GraphSpec, loadModel, type ModelIR, runOnnxRuntime } from '../../src/model/index.ts';
import { evalFloat } from '../../src/quant/float-eval.ts';
import { generateCircuit } from '../../src/circuit/index.ts';
import { DEFAULT_SETTINGS, estimateConstraints, quantizeModel, runReference } from '../../src/quant/index.ts';
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
  W,
} from '../helpers/dag.ts';

/**
 * Graphs that are DAGs, not chains: residual connections, a value read by several
 * nodes, Add / Sub / Mul / Concat of two activations (with broadcasting). Each model is
 * lowered and checked against onnxruntime; its integer reference must make onnxruntime's
 * decisions on every test row; the circuit's stated constraint count must equal the
 * estimate (the circuits are compiled in test/prover/dag-e2e.test.ts).
 */
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-dag-'));
});

async function write(name: string, g: GraphSpec): Promise<string> {
  const file = path.join(dir, `${name}.onnx`);
  await writeFile(file, buildOnnx(g));
  return file;
}

const decisionOf = (ir: ModelIR, probs: ArrayLike<number>): number =>
  ir.head === 'sigmoid' ? (probs[0] >= 0.5 ? 1 : 0) : Array.from(probs).indexOf(Math.max(...Array.from(probs)));

/** Float lowering = onnxruntime; integer reference = onnxruntime's decision on every row; estimate = circuit plan. */
async function check(name: string, g: GraphSpec, rows = 24, scale = 1.5): Promise<ModelIR> {
  const file = await write(name, g);
  const { ir } = await loadModel(file);
  const q = quantizeModel(ir, DEFAULT_SETTINGS);
  let maxErr = 0;
  for (let t = 0; t < rows; t++) {
    const x = Float64Array.from(rand(ir.inputSize, scale));
    const want = await runOnnxRuntime(file, x, ir);
    const got = evalFloat(ir, x).output;
    expect(got.length, name).toBe(want.length);
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i]), `${name}[${i}]`).toBeLessThan(1e-4 * Math.max(1, Math.abs(want[i])));
    const ref = runReference(q, x);
    const probs = ir.head === 'softmax' ? softmax(ref.output) : ref.output.map((v) => 1 / (1 + Math.exp(-Number(v) / 2 ** DEFAULT_SETTINGS.scaleBits)));
    probs.forEach((p, i) => (maxErr = Math.max(maxErr, Math.abs(p - want[i]))));
    expect(Number(ref.decision[0]), `${name} row ${t}`).toBe(decisionOf(ir, want));
  }
  expect(maxErr, name).toBeLessThan(0.02);
  const gen = generateCircuit(q);
  expect(gen.constraints, name).toBe(estimateConstraints(ir, DEFAULT_SETTINGS).total);
  return ir;
}

function softmax(v: bigint[]): number[] {
  const f = v.map((x) => Number(x) / 2 ** DEFAULT_SETTINGS.scaleBits);
  const m = Math.max(...f);
  const e = f.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

describe('graphs that are DAGs', () => {
  it('a residual MLP: the skip Add folds into the second Gemm, x is carried for free', async () => {
    const ir = await check('residual-mlp', residualMlp());
    expect(ir.layers.map((l) => l.kind)).toEqual(['sparse', 'relu', 'dense', 'relu', 'dense']);
    const relu1 = ir.layers[1];
    expect(relu1.kind === 'relu' && relu1.span).toEqual([6, 14]);
    const gen = generateCircuit(quantizeModel(ir, DEFAULT_SETTINGS));
    // fc1 rescales its 8 neurons; the 6 copies of x cost nothing.
    expect(gen.plan[1]).toMatchObject({ constraints: 8 * (22 + 10), formula: expect.stringContaining('6 copied') });
  });

  it('Mul(x, x) and Add(x2, x): one product per element', async () => {
    const ir = await check('polynomial', polynomial());
    expect(ir.layers.map((l) => l.kind)).toEqual(['mul', 'dense']);
    const mul = ir.layers[0];
    expect(mul.kind === 'mul' && [Array.from(mul.a), Array.from(mul.b)]).toEqual([
      [0, 1, 2, 3, 0, 1, 2, 3],
      [-1, -1, -1, -1, 0, 1, 2, 3],
    ]);
  });

  it('Concat of a branch and the input (wide and deep)', async () => {
    await check('wide-deep', wideDeep());
  });

  it('a residual conv block', async () => {
    const ir = await check('residual-conv', residualConv(), 16, 1);
    expect(ir.layers.map((l) => l.kind)).toContain('relu');
  });

  it('a channel gate: Mul broadcasts [1,3,1,1] over [1,3,4,4]', async () => {
    await check('gate-relu', channelGate('Relu'), 16, 1);
    // A Sigmoid on a branch is an inner sigmoid (approximated in the circuit): the lowering is exact.
    const file = await write('gate-sigmoid', channelGate('Sigmoid'));
    const { ir } = await loadModel(file);
    expect(ir.layers.some((l) => l.kind === 'sigmoid' && l.span)).toBe(true);
    const x = Float64Array.from(rand(ir.inputSize));
    const want = await runOnnxRuntime(file, x, ir);
    evalFloat(ir, x).output.forEach((p, i) => expect(Math.abs(p - want[i])).toBeLessThan(1e-5));
  });

  it('a value read by three nodes, and Sub of two activations', async () => {
    await check('three-reads', threeReads());
  });

  it('two graph inputs read apart (wide and deep with two inputs)', async () => {
    const ir = await check('two-inputs', twoInputs());
    expect(ir.inputs.map((i) => [i.name, i.offset, i.size])).toEqual([
      ['wide', 0, 3],
      ['deep', 3, 4],
    ]);
  });

  it('Max of two branches (a max pool of two-element windows), Sum and Mean of several values', async () => {
    const ir = await check('variadic', variadic());
    expect(ir.layers.map((l) => l.kind)).toContain('maxpool');
  });

  it('a ColumnTransformer with a Binarizer on some columns: the binarized branch is compared, the scaled one carried', async () => {
    const ir = await check('columns-binarized', columnsBinarized());
    expect(ir.layers.some((l) => l.kind === 'binarize' && l.span)).toBe(true);
  });

  it('an L2 Normalizer on a branch, the input carried beside it', async () => {
    const ir = await check('normalized-branch', normalizedBranch(), 24, 1);
    expect(ir.layers.some((l) => l.kind === 'normalize' && l.span)).toBe(true);
  });

  it('an NHWC image transposed to NCHW (tf2onnx), ReduceMean over H and W', async () => {
    const ir = await check('nhwc-conv', nhwcConv(), 16, 1);
    // The transpose is a permutation: it folds into the convolution (the mean stays a layer: folded into the Gemm it would hold more terms).
    expect(ir.layers.map((l) => l.kind)).toEqual(['sparse', 'relu', 'sparse', 'dense']);
  });

  it('Slice, Gather (a negative index), Neg and ReduceSum of activations', async () => {
    await check('selections', selections());
  });

  it('ops of two activations that are not supported are named, with the supported ones', async () => {
    for (const [op, extra] of [
      ['Div', {}],
      ['MatMul', {}],
    ] as const) {
      const file = await write(`two-${op}`, {
        inputs: [{ name: 'x', dims: [1, 3] }],
        output: { name: 'y', dims: [1, 3] },
        initializers: [W('W', [3, 3])],
        nodes: [
          { op: 'MatMul', name: 'm', inputs: ['x', 'W'], outputs: ['h'] },
          { op, name: 'combine', inputs: ['h', 'x'], outputs: ['y'], attrs: extra },
        ],
      });
      await expect(loadModel(file)).rejects.toMatchObject({
        code: 'MODEL_UNSUPPORTED_OP',
        message: expect.stringContaining(`"${op}" at node "combine" (of two activations`),
      });
    }
  });

  it('a broadcast of two activations to a huge shape is refused at the width limit before it is built', async () => {
    const file = await write('broadcast-bomb', {
      inputs: [{ name: 'x', dims: [1, 4096, 1] }],
      output: { name: 'y', dims: [1, 4096, 4096] },
      initializers: [{ name: 'shape', dims: [3], data: [1, 1, 4096], type: 'int64' }],
      nodes: [
        { op: 'Reshape', name: 'r', inputs: ['x', 'shape'], outputs: ['xr'] },
        { op: 'Mul', name: 'outer', inputs: ['x', 'xr'], outputs: ['y'] },
      ],
    });
    await expect(loadModel(file)).rejects.toMatchObject({ code: 'MODEL_TOO_LARGE', message: expect.stringMatching(/maxLayerWidth/) });
  });

  it("ArgMax of the outputs as the predicted label: an argmax head over logits; over a Sigmoid's outputs refused", async () => {
    const logits = await write('argmax-logits', {
      inputs: [{ name: 'x', dims: [1, 3] }],
      output: { name: 'z', dims: [1, 3] },
      extraOutputs: [{ name: 'label', dims: [1], type: 'int64' }],
      initializers: [W('W', [3, 3])],
      nodes: [
        { op: 'MatMul', name: 'm', inputs: ['x', 'W'], outputs: ['z'] },
        { op: 'ArgMax', name: 'am', inputs: ['z'], outputs: ['label'], attrs: { axis: 1, keepdims: 0 } },
      ],
    });
    const { ir } = await loadModel(logits);
    expect([ir.head, ir.labelOutputs]).toEqual(['argmax', ['label']]);
    const q = quantizeModel(ir, DEFAULT_SETTINGS);
    const x = [0.5, -1, 0.25];
    const z = evalFloat(ir, x).output;
    expect(Number(runReference(q, x).decision[0])).toBe(z.indexOf(Math.max(...z)));
    const sig = await write('argmax-sigmoid', {
      inputs: [{ name: 'x', dims: [1, 3] }],
      output: { name: 'p', dims: [1, 3] },
      extraOutputs: [{ name: 'label', dims: [1], type: 'int64' }],
      nodes: [
        { op: 'Sigmoid', name: 's', inputs: ['x'], outputs: ['p'] },
        { op: 'ArgMax', name: 'am', inputs: ['p'], outputs: ['label'], attrs: { axis: 1 } },
      ],
    });
    await expect(loadModel(sig)).rejects.toMatchObject({ code: 'MODEL_UNSUPPORTED_GRAPH', field: 'am' });
    const inner = await write('argmax-inner', {
      inputs: [{ name: 'x', dims: [1, 3] }],
      output: { name: 'y', dims: [1, 3] },
      extraOutputs: [{ name: 'label', dims: [1], type: 'int64' }],
      initializers: [W('W', [3, 3])],
      nodes: [
        { op: 'ArgMax', name: 'am', inputs: ['x'], outputs: ['label'], attrs: { axis: 1 } },
        { op: 'MatMul', name: 'm', inputs: ['x', 'W'], outputs: ['y'] },
      ],
    });
    await expect(loadModel(inner)).rejects.toMatchObject({ code: 'MODEL_UNSUPPORTED_GRAPH', field: 'am' });
  });

  it('1 - sigmoid(x) that no Concat(1 - p, p) reads is an inner sigmoid, as before', async () => {
    const file = await write('one-minus-sigmoid', {
      inputs: [{ name: 'x', dims: [1, 1] }],
      output: { name: 'y', dims: [1, 2] },
      initializers: [{ name: 'one', dims: [], data: [1] }, W('W', [1, 2])],
      nodes: [
        { op: 'Sigmoid', name: 's', inputs: ['x'], outputs: ['p'] },
        { op: 'Sub', name: 'c', inputs: ['one', 'p'], outputs: ['q'] },
        { op: 'MatMul', name: 'm', inputs: ['q', 'W'], outputs: ['y'] },
      ],
    });
    const { ir } = await loadModel(file);
    expect(ir.layers.map((l) => l.kind)).toEqual(['sigmoid', 'dense']);
    const want = await runOnnxRuntime(file, [0.3], ir);
    evalFloat(ir, [0.3]).output.forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThan(1e-5));
  });

  it('a Softmax read twice is refused (it is supported only as the last op)', async () => {
    const file = await write('softmax-twice', {
      inputs: [{ name: 'x', dims: [1, 3] }],
      output: { name: 'y', dims: [1, 3] },
      nodes: [
        { op: 'Softmax', name: 'sm', inputs: ['x'], outputs: ['s'], attrs: { axis: 1 } },
        { op: 'Add', name: 'twice', inputs: ['s', 's'], outputs: ['y'] },
      ],
    });
    await expect(loadModel(file)).rejects.toMatchObject({ code: 'MODEL_UNSUPPORTED_GRAPH' });
  });
});
