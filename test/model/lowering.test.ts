import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildOnnx, type GraphSpec, loadModel, onnx, runOnnxRuntime } from '../../src/model/index.ts';
import { evalFloat } from '../../src/quant/float-eval.ts';
import { rng } from '../helpers/ir.ts';

/**
 * Lowering details not covered by import.test.ts: constant folding of shape preludes,
 * composition of dense layers, inputs without a batch dimension, and the typed errors
 * for graphs the chain IR cannot express.
 */
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-lower-'));
});

const r = rng(11);
const rand = (n: number, scale = 1) => Array.from({ length: n }, () => (r() * 2 - 1) * scale);
const X = (n: number) => [{ name: 'x', dims: ['batch', n] as (number | string)[] }];
const Y = (n: number) => ({ name: 'y', dims: ['batch', n] as (number | string)[] });

async function write(name: string, g: GraphSpec | Uint8Array): Promise<string> {
  const file = path.join(dir, `${name}.onnx`);
  await writeFile(file, g instanceof Uint8Array ? g : buildOnnx(g));
  return file;
}

/** Loads the model and checks the float IR against onnxruntime on random inputs. */
async function matchesOrt(name: string, g: GraphSpec) {
  const file = await write(name, g);
  const { ir } = await loadModel(file);
  for (let t = 0; t < 10; t++) {
    const x = Float64Array.from(rand(ir.inputSize, 2));
    const want = await runOnnxRuntime(file, x, ir);
    const got = evalFloat(ir, x).output;
    expect(got.length).toBe(want.length);
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-4 * Math.max(1, Math.abs(want[i])));
  }
  return ir;
}

async function lowerError(name: string, g: GraphSpec | Uint8Array) {
  return loadModel(await write(name, g)).then(
    () => {
      throw new Error(`${name} lowered, but it should have been refused`);
    },
    (e: unknown) => e as Error & { code: string; field?: string },
  );
}

describe('constant folding and shape tracking', () => {
  it('Shape of an activation -> Gather -> Concat -> Reshape, and Slice of weights', async () => {
    const ir = await matchesOrt('shape-prelude', {
      inputs: [{ name: 'x', dims: ['batch', 2, 3] }],
      output: Y(2),
      initializers: [
        { name: 'zero', dims: [1], data: [0], type: 'int64' },
        { name: 'minus1', dims: [1], data: [-1], type: 'int64' },
        { name: 'Wbig', dims: [8, 4], data: rand(32) },
        { name: 'starts', dims: [2], data: [1, 1], type: 'int64' },
        { name: 'ends', dims: [2], data: [7, 3], type: 'int64' },
        { name: 'axes', dims: [2], data: [0, 1], type: 'int64' },
      ],
      nodes: [
        { op: 'Shape', inputs: ['x'], outputs: ['s'] },
        { op: 'Gather', inputs: ['s', 'zero'], outputs: ['n'], attrs: { axis: 0 } },
        { op: 'Concat', inputs: ['n', 'minus1'], outputs: ['target'], attrs: { axis: 0 } },
        { op: 'Reshape', inputs: ['x', 'target'], outputs: ['f'] },
        { op: 'Slice', inputs: ['Wbig', 'starts', 'ends', 'axes'], outputs: ['W'] },
        { op: 'MatMul', inputs: ['f', 'W'], outputs: ['y'] },
      ],
    });
    expect(ir.layers.map((l) => l.kind)).toEqual(['dense']);
    expect(ir.outputShape).toEqual([2]);
  });

  it('constant minus the activation, then Clip with opset-10 attributes', async () => {
    const ir = await matchesOrt('rsub-clip10', {
      opset: 10,
      inputs: X(3),
      output: Y(3),
      initializers: [{ name: 'c', dims: [3], data: [1, -2, 0.5] }],
      nodes: [
        { op: 'Sub', inputs: ['c', 'x'], outputs: ['d'] },
        { op: 'Clip', inputs: ['d'], outputs: ['y'], attrs: { min: { float: -1 }, max: { float: 1.5 } } },
      ],
    });
    expect(ir.layers.map((l) => l.kind)).toEqual(['sparse', 'clip']);
  });

  it('a softmax over a whole [C, H] block before opset 13 is a head', async () => {
    const ir = await matchesOrt('softmax11', {
      opset: 11,
      inputs: [{ name: 'x', dims: ['batch', 2, 3] }],
      output: { name: 'y', dims: ['batch', 2, 3] },
      nodes: [{ op: 'Softmax', inputs: ['x'], outputs: ['y'], attrs: { axis: 1 } }],
    });
    expect(ir.head).toBe('softmax');
    expect(ir.outputSize).toBe(6);
  });

  it('an input without a batch dimension is all features', async () => {
    const ir = await matchesOrt('no-batch', {
      inputs: [{ name: 'x', dims: [4] }],
      output: { name: 'y', dims: [2] },
      initializers: [{ name: 'W', dims: [4, 2], data: rand(8) }],
      nodes: [{ op: 'MatMul', inputs: ['x', 'W'], outputs: ['y'] }],
    });
    expect(ir.inputs[0]).toMatchObject({ shape: [4], batched: false });
    expect(ir.outputShape).toEqual([2]);
  });
});

describe('dense folding', () => {
  const twoGemms = (name: string, n: number, mid: number, out: number): GraphSpec => ({
    inputs: X(n),
    output: Y(out),
    initializers: [
      { name: 'W1', dims: [mid, n], data: rand(mid * n) },
      { name: 'b1', dims: [mid], data: rand(mid) },
      { name: 'W2', dims: [out, mid], data: rand(out * mid) },
      { name: 'b2', dims: [out], data: rand(out) },
    ],
    nodes: [
      { op: 'Gemm', name: `${name}1`, inputs: ['x', 'W1', 'b1'], outputs: ['h'], attrs: { transB: 1 } },
      { op: 'Gemm', name: `${name}2`, inputs: ['h', 'W2', 'b2'], outputs: ['y'], attrs: { transB: 1 } },
    ],
  });

  it('two full dense layers compose when that does not add weights', async () => {
    const ir = await matchesOrt('compose', twoGemms('fc', 4, 8, 2));
    expect(ir.layers).toHaveLength(1);
    expect(ir.layers[0]).toMatchObject({ kind: 'dense', inSize: 4, outSize: 2, nodes: ['fc1', 'fc2'] });
  });

  it('a bottleneck stays two layers', async () => {
    const ir = await matchesOrt('bottleneck', twoGemms('fc', 8, 2, 8));
    expect(ir.layers.map((l) => [l.kind, l.kind === 'dense' ? l.outSize : 0])).toEqual([
      ['dense', 2],
      ['dense', 8],
    ]);
  });

  it('standardize -> Gemm -> BatchNorm -> Relu is one dense layer and a relu', async () => {
    const ir = await matchesOrt('standardize-bn', {
      inputs: X(3),
      output: Y(2),
      initializers: [
        { name: 'mu', dims: [3], data: [1, 2, 3] },
        { name: 'sd', dims: [3], data: [2, 4, 0.5] },
        { name: 'W', dims: [2, 3], data: rand(6) },
        { name: 'g', dims: [2], data: [1.5, 0.7] },
        { name: 'beta', dims: [2], data: [0.1, -0.2] },
        { name: 'mean', dims: [2], data: [0.3, -0.1] },
        { name: 'var', dims: [2], data: [0.9, 1.7] },
      ],
      nodes: [
        { op: 'Sub', inputs: ['x', 'mu'], outputs: ['c'] },
        { op: 'Div', inputs: ['c', 'sd'], outputs: ['s'] },
        { op: 'Gemm', inputs: ['s', 'W'], outputs: ['h'], attrs: { transB: 1, alpha: { float: 0.5 } } },
        { op: 'BatchNormalization', inputs: ['h', 'g', 'beta', 'mean', 'var'], outputs: ['n'] },
        { op: 'Relu', inputs: ['n'], outputs: ['y'] },
      ],
    });
    expect(ir.layers.map((l) => l.kind)).toEqual(['dense', 'relu']);
    expect(ir.layers[0].nodes).toHaveLength(4);
  });
});

describe('graphs the chain IR cannot express get a typed error naming the node', () => {
  it('quantized activations', async () => {
    const err = await lowerError('qdq', {
      inputs: X(2),
      output: Y(2),
      initializers: [
        { name: 's', dims: [], data: [0.1] },
        { name: 'z', dims: [], data: [0], type: 'uint8' },
      ],
      nodes: [
        { op: 'QuantizeLinear', name: 'q', inputs: ['x', 's', 'z'], outputs: ['xq'] },
        { op: 'DequantizeLinear', name: 'dq', inputs: ['xq', 's', 'z'], outputs: ['y'] },
      ],
    });
    expect(err).toMatchObject({ code: 'MODEL_UNSUPPORTED_OP', field: 'q' });
    expect(err.message).toMatch(/quantized activations are not supported yet/);
  });

  it('dynamic quantization (quantize_dynamic), refused with the reason: a per-decision scale', async () => {
    const err = await lowerError('dynamic', {
      inputs: X(2),
      output: Y(2),
      initializers: [
        { name: 'w', dims: [2, 2], data: [1, -2, 3, 4], type: 'int8' },
        { name: 'wz', dims: [], data: [0], type: 'int8' },
      ],
      nodes: [
        { op: 'DynamicQuantizeLinear', name: 'dq', inputs: ['x'], outputs: ['xq', 'xs', 'xz'] },
        { op: 'MatMulInteger', name: 'mm', inputs: ['xq', 'w', 'xz', 'wz'], outputs: ['acc'] },
        { op: 'Cast', name: 'c', inputs: ['acc'], outputs: ['y'], attrs: { to: 1 } },
      ],
    });
    expect(err).toMatchObject({ code: 'MODEL_UNSUPPORTED_OP', field: 'dq' });
    expect(err.message).toMatch(
      /"DynamicQuantizeLinear" at node "dq" \(dynamic quantization: onnxruntime computes each activation's scale .* per-decision value/,
    );
    expect(err.message).toMatch(/"MatMulInteger" at node "mm" \(dynamic quantization/);
  });

  it('a constant-only op applied to the activation, and a custom domain', async () => {
    const t = await lowerError('sqrt', { inputs: X(2), output: Y(2), nodes: [{ op: 'Sqrt', name: 'tr', inputs: ['x'], outputs: ['y'] }] });
    expect(t).toMatchObject({ code: 'MODEL_UNSUPPORTED_OP', field: 'tr' });
    expect(t.message).toMatch(/supported only on constants/);
    const custom = await lowerError('custom', {
      inputs: X(2),
      output: Y(2),
      nodes: [{ op: 'Gelu', name: 'g', domain: 'com.microsoft', inputs: ['x'], outputs: ['y'] }],
    });
    expect(custom).toMatchObject({ code: 'MODEL_UNSUPPORTED_OP', field: 'g' });
    expect(custom.message).toMatch(/"com\.microsoft\.Gelu"/);
  });

  it('a malformed node is a typed error, not a TypeError', async () => {
    const err = await lowerError('matmul-one-input', { inputs: X(2), output: Y(2), nodes: [{ op: 'MatMul', name: 'mm', inputs: ['x'], outputs: ['y'] }] });
    expect(err).toMatchObject({ code: 'MODEL_UNSUPPORTED_GRAPH', field: 'mm' });
  });

  it('a softmax that is not over the whole vector', async () => {
    const err = await lowerError('softmax-rows', {
      inputs: [{ name: 'x', dims: ['batch', 2, 3] }],
      output: { name: 'y', dims: ['batch', 2, 3] },
      nodes: [{ op: 'Softmax', name: 'sm', inputs: ['x'], outputs: ['y'], attrs: { axis: -1 } }],
    });
    expect(err).toMatchObject({ code: 'MODEL_UNSUPPORTED_GRAPH', field: 'sm' });
  });

  it('a MatMul over several rows, and an Expand over features', async () => {
    const rows = await lowerError('rows', {
      inputs: [{ name: 'x', dims: ['batch', 2, 3] }],
      output: { name: 'y', dims: ['batch', 2, 1] },
      initializers: [{ name: 'W', dims: [3, 1], data: rand(3) }],
      nodes: [{ op: 'MatMul', name: 'mm', inputs: ['x', 'W'], outputs: ['y'] }],
    });
    expect(rows).toMatchObject({ code: 'MODEL_UNSUPPORTED_GRAPH', field: 'mm' });
    const expand = await lowerError('expand', {
      inputs: X(1),
      output: Y(4),
      initializers: [{ name: 'shape', dims: [2], data: [1, 4], type: 'int64' }],
      nodes: [{ op: 'Expand', name: 'ex', inputs: ['x', 'shape'], outputs: ['y'] }],
    });
    expect(expand).toMatchObject({ code: 'MODEL_UNSUPPORTED_GRAPH', field: 'ex' });
  });

  it('two graph outputs', async () => {
    const model = onnx.ModelProto.decode(
      buildOnnx({
        inputs: X(2),
        output: Y(2),
        nodes: [
          { op: 'Relu', inputs: ['x'], outputs: ['y'] },
          { op: 'Relu', inputs: ['y'], outputs: ['y2'] },
        ],
      }),
    );
    model.graph!.output!.push(onnx.ValueInfoProto.create({ name: 'y2' }));
    const err = await lowerError('two-outputs', onnx.ModelProto.encode(model).finish());
    expect(err).toMatchObject({ code: 'MODEL_UNSUPPORTED_GRAPH', field: 'model' });
  });

  it('NaN weights from a Constant node name the layer', async () => {
    const err = await lowerError('nan-constant', {
      inputs: X(2),
      output: Y(2),
      nodes: [
        { op: 'Constant', name: 'c', inputs: [], outputs: ['w'], attrs: { value: { tensor: { dims: [2], data: [1, Number.NaN] } } } },
        { op: 'Mul', name: 'scale', inputs: ['x', 'w'], outputs: ['y'] },
      ],
    });
    expect(err).toMatchObject({ code: 'MODEL_BAD_WEIGHTS', field: 'scale' });
  });
});

describe('external data locations', () => {
  /** A MatMul model whose weight lives in an external file at `location`. */
  function externalModel(location: string): Uint8Array {
    const model = onnx.ModelProto.decode(
      buildOnnx({
        inputs: X(2),
        output: Y(1),
        initializers: [{ name: 'W', dims: [2, 1], data: [1, 2] }],
        nodes: [{ op: 'MatMul', inputs: ['x', 'W'], outputs: ['y'] }],
      }),
    );
    const w = model.graph!.initializer![0];
    w.rawData = new Uint8Array(0);
    w.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    w.externalData = [
      { key: 'location', value: location },
      { key: 'offset', value: '0' },
      { key: 'length', value: '8' },
    ];
    return onnx.ModelProto.encode(model).finish();
  }

  it('reads weights beside the model', async () => {
    await writeFile(path.join(dir, 'w.bin'), new Uint8Array(Float32Array.of(3, -1).buffer));
    const { ir, externalBytes } = await loadModel(await write('external-ok', externalModel('w.bin')));
    expect(externalBytes).toHaveLength(1);
    expect(Array.from(evalFloat(ir, [2, 5]).output)).toEqual([1]);
  });

  it.each(['../w.bin', '/etc/passwd', 'sub/../../w.bin'])('refuses a location that leaves the model directory: %s', async (location) => {
    const err = await lowerError(`external-escape-${location.replace(/\W/g, '_')}`, externalModel(location));
    expect(err).toMatchObject({ code: 'MODEL_EXTERNAL_DATA', field: 'W' });
  });
});
