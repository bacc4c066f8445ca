import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildOnnx, type GraphSpec, loadModel, type ModelIR, parseInput, runOnnxRuntime } from '../../src/model/index.ts';
import { evalFloat } from '../../src/quant/float-eval.ts';
import { dequantizeOutput, quantizeModel, runReference } from '../../src/quant/index.ts';
import { rng } from '../helpers/ir.ts';
import { HAVE_SHARED, SHARED_FIXTURES } from '../helpers/paths.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-model-'));
});

const r = rng(3);
const rand = (n: number, scale = 1) => Array.from({ length: n }, () => (r() * 2 - 1) * scale);

async function write(name: string, g: GraphSpec): Promise<string> {
  const file = path.join(dir, `${name}.onnx`);
  await writeFile(file, buildOnnx(g));
  return file;
}

/** A [batch, n] input named x. */
const X = (n: number) => [{ name: 'x', dims: ['batch', n] as (number | string)[] }];
const Y = (n: number | (number | string)[]) => ({ name: 'y', dims: Array.isArray(n) ? n : ['batch', n] });

const OP_MODELS: { name: string; graph: GraphSpec; layers?: string[] }[] = [
  {
    name: 'matmul-add',
    graph: {
      inputs: X(4),
      output: Y(3),
      initializers: [
        { name: 'W', dims: [4, 3], data: rand(12) },
        { name: 'b', dims: [3], data: rand(3) },
      ],
      nodes: [
        { op: 'MatMul', inputs: ['x', 'W'], outputs: ['m'] },
        { op: 'Add', inputs: ['m', 'b'], outputs: ['y'] },
      ],
    },
    layers: ['dense'],
  },
  {
    name: 'sub-mul-div-gemm',
    graph: {
      inputs: X(3),
      output: Y(2),
      initializers: [
        { name: 'mu', dims: [3], data: [0.5, -1, 2] },
        { name: 's', dims: [3], data: [2, 0.5, 1.5] },
        { name: 'd', dims: [], data: [4] },
        { name: 'W', dims: [2, 3], data: rand(6) },
        { name: 'b', dims: [2], data: rand(2) },
      ],
      nodes: [
        { op: 'Sub', inputs: ['x', 'mu'], outputs: ['a'] },
        { op: 'Mul', inputs: ['a', 's'], outputs: ['b1'] },
        { op: 'Div', inputs: ['b1', 'd'], outputs: ['c'] },
        { op: 'Gemm', inputs: ['c', 'W', 'b'], outputs: ['y'], attrs: { transB: 1 } },
      ],
    },
    layers: ['dense'],
  },
  {
    name: 'gemm-batchnorm-leaky',
    graph: {
      inputs: X(3),
      output: Y(4),
      initializers: [
        { name: 'W', dims: [3, 4], data: rand(12) },
        { name: 'b', dims: [4], data: rand(4) },
        { name: 'g', dims: [4], data: [1, 0.5, 2, 1.5] },
        { name: 'beta', dims: [4], data: rand(4) },
        { name: 'mean', dims: [4], data: rand(4) },
        { name: 'var', dims: [4], data: [1, 2, 0.5, 1] },
      ],
      nodes: [
        { op: 'Gemm', inputs: ['x', 'W', 'b'], outputs: ['h'] },
        { op: 'BatchNormalization', inputs: ['h', 'g', 'beta', 'mean', 'var'], outputs: ['n'] },
        { op: 'LeakyRelu', inputs: ['n'], outputs: ['y'], attrs: { alpha: { float: 0.1 } } },
      ],
    },
    layers: ['dense', 'leaky_relu'],
  },
  {
    name: 'prelu-clip-sigmoid-softmax',
    graph: {
      inputs: X(4),
      output: Y(3),
      initializers: [
        { name: 'W', dims: [4, 4], data: rand(16) },
        { name: 'slope', dims: [4], data: [0.2, 0.1, 0.3, 0.05] },
        { name: 'lo', dims: [], data: [-0.5] },
        { name: 'hi', dims: [], data: [0.8] },
        { name: 'W2', dims: [3, 4], data: rand(12, 2) },
      ],
      nodes: [
        { op: 'MatMul', inputs: ['x', 'W'], outputs: ['h'] },
        { op: 'PRelu', inputs: ['h', 'slope'], outputs: ['p'] },
        { op: 'Clip', inputs: ['p', 'lo', 'hi'], outputs: ['c'] },
        { op: 'Sigmoid', inputs: ['c'], outputs: ['s'] },
        { op: 'Gemm', inputs: ['s', 'W2'], outputs: ['z'], attrs: { transB: 1 } },
        { op: 'Softmax', inputs: ['z'], outputs: ['y'], attrs: { axis: 1 } },
      ],
    },
    layers: ['dense', 'leaky_relu', 'clip', 'sigmoid', 'dense'],
  },
  {
    name: 'shape-ops-dequantized-weights',
    graph: {
      inputs: [{ name: 'x', dims: ['batch', 2, 3] }],
      output: Y(['batch', 1, 2]),
      initializers: [
        { name: 'Wq', dims: [6, 2], data: [12, -40, 7, 100, -127, 3, 55, -9, 0, 64, -20, 33], type: 'int8' },
        { name: 'ws', dims: [], data: [0.01] },
        { name: 'wz', dims: [], data: [0], type: 'int8' },
        { name: 'axes', dims: [1], data: [1], type: 'int64' },
      ],
      nodes: [
        { op: 'Identity', inputs: ['x'], outputs: ['i'] },
        { op: 'Flatten', inputs: ['i'], outputs: ['f'] },
        { op: 'Cast', inputs: ['f'], outputs: ['c'], attrs: { to: 1 } },
        { op: 'DequantizeLinear', inputs: ['Wq', 'ws', 'wz'], outputs: ['W'] },
        { op: 'MatMul', inputs: ['c', 'W'], outputs: ['m'] },
        { op: 'Relu', inputs: ['m'], outputs: ['r1'] },
        { op: 'Unsqueeze', inputs: ['r1', 'axes'], outputs: ['u'] },
        { op: 'Squeeze', inputs: ['u', 'axes'], outputs: ['q'] },
        { op: 'Unsqueeze', inputs: ['q', 'axes'], outputs: ['y'] },
      ],
    },
    layers: ['dense', 'relu'],
  },
  {
    name: 'concat-named-inputs',
    graph: {
      inputs: [
        { name: 'income', dims: ['batch', 1] },
        { name: 'history', dims: ['batch', 2] },
      ],
      output: Y(1),
      initializers: [
        { name: 'W', dims: [1, 3], data: rand(3) },
        { name: 'b', dims: [1], data: [0.1] },
      ],
      nodes: [
        { op: 'Concat', inputs: ['income', 'history'], outputs: ['x'], attrs: { axis: 1 } },
        { op: 'Gemm', inputs: ['x', 'W', 'b'], outputs: ['z'], attrs: { transB: 1 } },
        { op: 'Sigmoid', inputs: ['z'], outputs: ['y'] },
      ],
    },
    layers: ['dense'],
  },
];

describe.each(OP_MODELS)('ONNX ops: $name', ({ name, graph, layers }) => {
  let file: string;
  let ir: ModelIR;
  beforeAll(async () => {
    file = await write(name, graph);
    ir = (await loadModel(file)).ir;
  });

  it('lowers to the expected layers', () => {
    if (layers) expect(ir.layers.map((l) => l.kind)).toEqual(layers);
  });

  it('matches onnxruntime in float, and the integer reference within the quantization bound', async () => {
    const q = quantizeModel(ir, { scaleBits: 12, bits: 36 });
    for (let t = 0; t < 20; t++) {
      const x = Float64Array.from(rand(ir.inputSize, 2));
      const want = await runOnnxRuntime(file, x, ir);
      const got = evalFloat(ir, x).output;
      for (let i = 0; i < want.length; i++) expect(got[i]).toBeCloseTo(want[i], 5);
      const approx = dequantizeOutput(q, runReference(q, x).output);
      // An inner sigmoid is approximated (max error 0.12 before the next layer); the rest is rounding.
      const bound = ir.layers.some((l) => l.kind === 'sigmoid') ? 0.35 : 0.01;
      for (let i = 0; i < want.length; i++) expect(Math.abs(approx[i] - want[i])).toBeLessThan(bound);
    }
  });
});

describe('bad models get a typed error', () => {
  it('garbage bytes and truncated files', async () => {
    const junk = path.join(dir, 'junk.onnx');
    await writeFile(junk, Buffer.from('definitely not a protobuf \x00\xff\x13 model'));
    await expect(loadModel(junk)).rejects.toMatchObject({ code: 'MODEL_UNREADABLE' });
    const good = await buildOnnx(OP_MODELS[0].graph);
    const cut = path.join(dir, 'cut.onnx');
    await writeFile(cut, good.subarray(0, Math.floor(good.length / 2)));
    await expect(loadModel(cut)).rejects.toMatchObject({ code: 'MODEL_UNREADABLE' });
    await expect(loadModel(path.join(dir, 'absent.onnx'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('an unsupported op names the op, the node and the supported list', async () => {
    const file = await write('sin', { inputs: X(2), output: Y(2), nodes: [{ op: 'Sin', name: 'wave', inputs: ['x'], outputs: ['y'] }] });
    const err = await loadModel(file).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'MODEL_UNSUPPORTED_OP', field: 'wave' });
    expect((err as Error).message).toMatch(/"Sin".*"wave".*supported on activations: .*Gemm/);
  });

  it('NaN or infinite weights', async () => {
    const file = await write('nan', {
      inputs: X(2),
      output: Y(1),
      initializers: [{ name: 'W', dims: [2, 1], data: [1, Number.NaN] }],
      nodes: [{ op: 'MatMul', inputs: ['x', 'W'], outputs: ['y'] }],
    });
    await expect(loadModel(file)).rejects.toMatchObject({ code: 'MODEL_BAD_WEIGHTS', field: 'W' });
  });

  it('a skip connection is lowered exactly (x W + x); an inner softmax is refused, not silently changed', async () => {
    const branch = await write('branch', {
      inputs: X(2),
      output: Y(2),
      initializers: [{ name: 'W', dims: [2, 2], data: [1, 2, 3, 4] }],
      nodes: [
        { op: 'MatMul', inputs: ['x', 'W'], outputs: ['h'] },
        { op: 'Add', inputs: ['h', 'x'], outputs: ['y'] },
      ],
    });
    const { ir } = await loadModel(branch);
    expect(Array.from(evalFloat(ir, [1, -2]).output)).toEqual([1 - 6 + 1, 2 - 8 - 2]);
    const inner = await write('inner-softmax', {
      inputs: X(2),
      output: Y(2),
      initializers: [{ name: 'W', dims: [2, 2], data: [1, 2, 3, 4] }],
      nodes: [
        { op: 'Softmax', inputs: ['x'], outputs: ['s'], attrs: { axis: 1 } },
        { op: 'MatMul', inputs: ['s', 'W'], outputs: ['y'] },
      ],
    });
    await expect(loadModel(inner)).rejects.toMatchObject({ code: 'MODEL_UNSUPPORTED_GRAPH' });
  });

  it.skipIf(!HAVE_SHARED)('a missing external data file names the file', async () => {
    const src = path.join(SHARED_FIXTURES, 'credit', 'fedos94-credit-scoring', 'credit_model.onnx');
    const lonely = path.join(dir, 'credit_model.onnx');
    await copyFile(src, lonely);
    const err = await loadModel(lonely).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'MODEL_EXTERNAL_DATA' });
    expect((err as Error).message).toMatch(/credit_model\.onnx\.data/);
    // A short external file is reported too.
    await writeFile(path.join(dir, 'credit_model.onnx.data'), (await readFile(`${src}.data`)).subarray(0, 1000));
    await expect(loadModel(lonely)).rejects.toMatchObject({ code: 'MODEL_EXTERNAL_DATA' });
  });
});

describe('input parsing', () => {
  let ir: ModelIR;
  beforeAll(async () => {
    ir = (await loadModel(await write('named', OP_MODELS.at(-1)!.graph))).ir;
  });

  it('accepts the fixture format, a flat array and named features', () => {
    expect(Array.from(parseInput({ input_data: [[1, 2, 3]] }, ir))).toEqual([1, 2, 3]);
    expect(Array.from(parseInput([1, 2, 3], ir))).toEqual([1, 2, 3]);
    expect(Array.from(parseInput({ history: [2, 3], income: 1 }, ir))).toEqual([1, 2, 3]);
  });

  it('names the bad feature', () => {
    const cases: [unknown, string, string][] = [
      [{ income: 1 }, 'INPUT_SHAPE', 'history'],
      [{ income: 1, history: [2, 3], extra: 4 }, 'INPUT_SHAPE', 'extra'],
      [{ incme: 1, history: [2, 3] }, 'INPUT_SHAPE', 'incme'],
      [{ income: 'high', history: [2, 3] }, 'INPUT_VALUE', 'income'],
      [{ income: 1, history: [2] }, 'INPUT_SHAPE', 'history'],
      [[1, 2], 'INPUT_SHAPE', 'input'],
      [[1, null, 3], 'INPUT_VALUE', 'input[1]'],
      [
        {
          input_data: [
            [1, 2, 3],
            [4, 5, 6],
          ],
        },
        'INPUT_SHAPE',
        'input_data',
      ],
      ['1,2,3', 'INPUT_SHAPE', 'input'],
    ];
    for (const [json, code, field] of cases) expect(() => parseInput(json, ir), JSON.stringify(json)).toThrow(expect.objectContaining({ code, field }));
  });
});
