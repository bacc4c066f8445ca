import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildOnnx, type GraphSpec, loadModel, type NodeSpec, runOnnxRuntime } from '../../src/model/index.ts';
import { evalFloat } from '../../src/quant/float-eval.ts';
import { rng } from '../helpers/ir.ts';

/**
 * Convolutions and pooling lowered to sparse linear maps and max-pool layers, each
 * checked against onnxruntime on random inputs: every attribute the lowering reads
 * (strides, pads, auto_pad, dilations, group, ceil_mode, count_include_pad,
 * output_padding, Pad modes) in 1D and 2D.
 */
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-conv-'));
});

const r = rng(23);
const rand = (n: number, scale = 1) => Array.from({ length: n }, () => (r() * 2 - 1) * scale);
const prod = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

async function write(name: string, g: GraphSpec): Promise<string> {
  const file = path.join(dir, `${name}.onnx`);
  await writeFile(file, buildOnnx(g));
  return file;
}

/** One node on input x of `inShape` (batch 1); weights W (and B) as given. */
function single(inShape: number[], outShape: number[], node: Omit<NodeSpec, 'outputs'>, inits: GraphSpec['initializers'] = [], opset = 13): GraphSpec {
  return {
    inputs: [{ name: 'x', dims: [1, ...inShape] }],
    output: { name: 'y', dims: [1, ...outShape] },
    initializers: inits,
    nodes: [{ ...node, inputs: ['x', ...node.inputs], outputs: ['y'], name: node.name ?? 'n' }],
    opset,
  };
}

async function matchesOrt(name: string, g: GraphSpec, samples = 4) {
  const file = await write(name, g);
  const { ir } = await loadModel(file);
  for (let t = 0; t < samples; t++) {
    const x = Float64Array.from(rand(ir.inputSize, 2));
    const want = await runOnnxRuntime(file, x, ir);
    const got = evalFloat(ir, x).output;
    expect(got.length, name).toBe(want.length);
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i]), `${name}[${i}]`).toBeLessThan(1e-4 * Math.max(1, Math.abs(want[i])));
  }
  return ir;
}

const W = (name: string, dims: number[]) => ({ name, dims, data: rand(prod(dims), 0.5) });

describe('Conv', () => {
  const cases: [string, number[], number[], number[], Record<string, number | number[] | { string: string }>][] = [
    ['2d plain', [2, 6, 5], [3, 2, 3, 3], [3, 4, 3], {}],
    ['2d pads strides', [2, 7, 6], [4, 2, 3, 2], [4, 4, 3], { pads: [1, 0, 2, 1], strides: [2, 2] }],
    ['2d dilations', [1, 8, 8], [2, 1, 3, 3], [2, 4, 4], { dilations: [2, 2] }],
    ['2d group 2', [4, 5, 5], [6, 2, 3, 3], [6, 5, 5], { group: 2, pads: [1, 1, 1, 1] }],
    ['2d depthwise', [3, 6, 6], [3, 1, 3, 3], [3, 3, 3], { group: 3, strides: [2, 2], pads: [1, 1, 1, 1] }],
    ['2d SAME_UPPER', [2, 7, 5], [2, 2, 4, 3], [2, 4, 3], { auto_pad: { string: 'SAME_UPPER' }, strides: [2, 2] }],
    ['2d SAME_LOWER', [2, 7, 5], [2, 2, 4, 3], [2, 4, 3], { auto_pad: { string: 'SAME_LOWER' }, strides: [2, 2] }],
    ['2d VALID', [1, 6, 6], [2, 1, 3, 3], [2, 2, 2], { auto_pad: { string: 'VALID' }, strides: [2, 2] }],
    ['1d', [3, 10], [4, 3, 3], [4, 5], { pads: [1, 1], strides: [2] }],
    ['1d SAME_UPPER', [2, 9], [2, 2, 4], [2, 5], { auto_pad: { string: 'SAME_UPPER' }, strides: [2] }],
  ];
  for (const [name, inShape, wShape, outShape, attrs] of cases) {
    it(`${name} matches onnxruntime`, async () => {
      const ir = await matchesOrt(`conv-${name}`, single(inShape, outShape, { op: 'Conv', inputs: ['W', 'B'], attrs }, [W('W', wShape), W('B', [wShape[0]])]));
      expect(ir.layers.map((l) => l.kind)).toEqual(['sparse']);
    });
  }

  it('without a bias, 3-d (depth) input', async () => {
    await matchesOrt('conv3d', single([2, 4, 4, 4], [2, 2, 2, 2], { op: 'Conv', inputs: ['W'] }, [W('W', [2, 2, 3, 3, 3])]));
  });

  it('ConvTranspose: strides, pads, output_padding, group', async () => {
    await matchesOrt(
      'convT',
      single(
        [2, 3, 4],
        [4, 6, 9],
        { op: 'ConvTranspose', inputs: ['W', 'B'], attrs: { strides: [2, 2], pads: [1, 0, 1, 0], output_padding: [1, 0], group: 2 } },
        [W('W', [2, 2, 3, 3]), W('B', [4])],
      ),
    );
    await matchesOrt('convT1d', single([2, 5], [3, 13], { op: 'ConvTranspose', inputs: ['W'], attrs: { strides: [2], dilations: [2] } }, [W('W', [2, 3, 3])]));
  });
});

describe('pooling and Pad', () => {
  it('AveragePool: pads with and without count_include_pad, ceil_mode, strides, 1D', async () => {
    for (const cip of [0, 1]) {
      await matchesOrt(
        `avg-${cip}`,
        single([2, 5, 5], [2, 3, 3], {
          op: 'AveragePool',
          inputs: [],
          attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 2], count_include_pad: cip },
        }),
      );
      await matchesOrt(
        `avg-ceil-${cip}`,
        single(
          [1, 6, 6],
          [1, 3, 3],
          { op: 'AveragePool', inputs: [], attrs: { kernel_shape: [3, 3], pads: [0, 0, 1, 1], strides: [2, 2], ceil_mode: 1, count_include_pad: cip } },
          [],
          19,
        ),
      );
    }
    await matchesOrt('avg-1d', single([3, 9], [3, 4], { op: 'AveragePool', inputs: [], attrs: { kernel_shape: [2], strides: [2] } }));
  });

  it('GlobalAveragePool and GlobalMaxPool', async () => {
    await matchesOrt('gap', single([3, 4, 5], [3, 1, 1], { op: 'GlobalAveragePool', inputs: [] }));
    const ir = await matchesOrt('gmp', single([3, 4, 5], [3, 1, 1], { op: 'GlobalMaxPool', inputs: [] }));
    expect(ir.layers.map((l) => l.kind)).toEqual(['maxpool']);
  });

  it('MaxPool: pads, strides, dilations, ceil_mode, 1D', async () => {
    await matchesOrt('max', single([2, 6, 6], [2, 3, 3], { op: 'MaxPool', inputs: [], attrs: { kernel_shape: [2, 2], strides: [2, 2] } }));
    await matchesOrt(
      'max-pad',
      single([2, 5, 5], [2, 3, 3], { op: 'MaxPool', inputs: [], attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 2] } }),
    );
    await matchesOrt(
      'max-dil',
      single([1, 7, 7], [1, 3, 3], { op: 'MaxPool', inputs: [], attrs: { kernel_shape: [2, 2], dilations: [2, 2], strides: [2, 2] } }, [], 12),
    );
    await matchesOrt('max-ceil', single([1, 6, 6], [1, 3, 3], { op: 'MaxPool', inputs: [], attrs: { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 } }));
    await matchesOrt(
      'max-same',
      single([1, 5, 5], [1, 3, 3], { op: 'MaxPool', inputs: [], attrs: { kernel_shape: [2, 2], strides: [2, 2], auto_pad: { string: 'SAME_UPPER' } } }),
    );
    await matchesOrt('max-1d', single([2, 9], [2, 4], { op: 'MaxPool', inputs: [], attrs: { kernel_shape: [3], strides: [2] } }));
  });

  it('Pad: constant (with a value), edge, reflect', async () => {
    const pads = { name: 'pads', dims: [8], data: [0, 0, 1, 2, 0, 0, 2, 1], type: 'int64' as const };
    const value = { name: 'v', dims: [], data: [0.5] };
    await matchesOrt('pad-c', single([2, 3, 3], [2, 6, 6], { op: 'Pad', inputs: ['pads', 'v'] }, [pads, value]));
    await matchesOrt('pad-edge', single([2, 3, 3], [2, 6, 6], { op: 'Pad', inputs: ['pads'], attrs: { mode: { string: 'edge' } } }, [pads]));
    await matchesOrt('pad-reflect', single([2, 3, 3], [2, 6, 6], { op: 'Pad', inputs: ['pads'], attrs: { mode: { string: 'reflect' } } }, [pads]));
  });
});

describe('folding', () => {
  it('Conv -> BatchNormalization -> Relu -> MaxPool -> Flatten -> Gemm: BN folds into the conv, the pool moves before the Relu', async () => {
    const g: GraphSpec = {
      inputs: [{ name: 'x', dims: [1, 1, 8, 8] }],
      output: { name: 'y', dims: [1, 3] },
      initializers: [
        W('W', [4, 1, 3, 3]),
        W('B', [4]),
        W('g', [4]),
        W('b', [4]),
        W('m', [4]),
        { name: 'v', dims: [4], data: [0.5, 1, 1.5, 2] },
        W('F', [3, 36]),
        W('c', [3]),
      ],
      nodes: [
        { op: 'Conv', inputs: ['x', 'W', 'B'], outputs: ['c1'], attrs: { pads: [1, 1, 1, 1] } },
        { op: 'BatchNormalization', inputs: ['c1', 'g', 'b', 'm', 'v'], outputs: ['bn'] },
        { op: 'Relu', inputs: ['bn'], outputs: ['r'] },
        { op: 'MaxPool', inputs: ['r'], outputs: ['p'], attrs: { kernel_shape: [2, 2], strides: [2, 2] } },
        { op: 'Pad', inputs: ['p', 'pads'], outputs: ['pp'] },
        { op: 'Flatten', inputs: ['pp'], outputs: ['f'] },
        { op: 'Gemm', inputs: ['f', 'F', 'c'], outputs: ['y'], attrs: { transB: 1 } },
      ],
    };
    g.initializers!.push({ name: 'pads', dims: [8], data: [0, 0, 0, 0, 0, 0, 1, 1], type: 'int64' });
    g.initializers!.find((i) => i.name === 'F')!.dims = [3, 100];
    g.initializers!.find((i) => i.name === 'F')!.data = rand(300, 0.3);
    const ir = await matchesOrt('conv-bn-relu-pool', g);
    // Pad then Gemm compose into one dense-or-sparse layer (the Pad adds no terms).
    expect(ir.layers.map((l) => l.kind)).toEqual(['sparse', 'maxpool', 'relu', 'dense']);
    // The BatchNormalization scales whole channels: the conv keeps its kernel.
    expect(ir.layers[0].kind === 'sparse' && ir.layers[0].conv?.kernel).toEqual([3, 3]);
    expect(ir.layers[2]).toMatchObject({ size: 64 });
  });

  it('Conv -> Clip (ReLU6) -> GlobalMaxPool: the pool moves before the Clip too; a LeakyRelu is not moved', async () => {
    const g = (act: NodeSpec): GraphSpec => ({
      inputs: [{ name: 'x', dims: [1, 2, 6, 6] }],
      output: { name: 'y', dims: [1, 3, 1, 1] },
      initializers: [W('W', [3, 2, 3, 3]), { name: 'lo', dims: [], data: [0] }, { name: 'hi', dims: [], data: [0.4] }],
      nodes: [{ op: 'Conv', inputs: ['x', 'W'], outputs: ['c'] }, act, { op: 'GlobalMaxPool', inputs: ['a'], outputs: ['y'] }],
    });
    const clip = await matchesOrt('conv-clip-gmp', g({ op: 'Clip', inputs: ['c', 'lo', 'hi'], outputs: ['a'] }));
    expect(clip.layers.map((l) => l.kind)).toEqual(['sparse', 'maxpool', 'clip']);
    const leaky = await matchesOrt('conv-leaky-gmp', g({ op: 'LeakyRelu', inputs: ['c'], outputs: ['a'], attrs: { alpha: { float: 0.1 } } }));
    expect(leaky.layers.map((l) => l.kind)).toEqual(['sparse', 'leaky_relu', 'maxpool']);
  });

  it('Conv -> AveragePool is one sparse layer (a 6x6 stride-2 kernel), AveragePool -> Conv stays two', async () => {
    const g = (first: 'conv' | 'pool'): GraphSpec => {
      const conv = { op: 'Conv', inputs: [first === 'conv' ? 'x' : 'a', 'W', 'B'], outputs: [first === 'conv' ? 'a' : 'y'], attrs: { pads: [2, 2, 2, 2] } };
      const pool = {
        op: 'AveragePool',
        inputs: [first === 'conv' ? 'a' : 'x'],
        outputs: [first === 'conv' ? 'y' : 'a'],
        attrs: { kernel_shape: [2, 2], strides: [2, 2] },
      };
      return {
        inputs: [{ name: 'x', dims: [1, 2, 12, 12] }],
        output: { name: 'y', dims: [1, 3, 6, 6] },
        initializers: [W('W', [3, 2, 5, 5]), W('B', [3])],
        nodes: first === 'conv' ? [conv, pool] : [pool, conv],
      };
    };
    const folded = await matchesOrt('conv-avg', g('conv'));
    expect(folded.layers.map((l) => l.kind)).toEqual(['sparse']);
    const l = folded.layers[0];
    // Interior outputs read 2 channels x 6 x 6 inputs.
    if (l.kind === 'sparse') expect(Math.max(...Array.from({ length: l.outSize }, (_, o) => l.rowPtr[o + 1] - l.rowPtr[o]))).toBe(72);
    // Still a convolution, for the circuit: one kernel, not 1,728 listed terms.
    expect(l.kind === 'sparse' && l.conv).toMatchObject({ kernel: [6, 6], strides: [2, 2], pads: [2, 2], group: 1 });
    const two = await matchesOrt('avg-conv', { ...g('pool'), output: { name: 'y', dims: [1, 3, 6, 6] } });
    expect(two.layers.map((l) => l.kind)).toEqual(['sparse', 'sparse']);
  });
});

describe('refusals', () => {
  it('names every unsupported conv variant at once, with the attribute', async () => {
    const file = await write('refused', {
      inputs: [{ name: 'x', dims: [1, 1, 6, 6] }],
      output: { name: 'y', dims: [1, 1, 3, 3] },
      initializers: [W('W', [1, 1, 2, 2])],
      nodes: [
        { op: 'ConvTranspose', inputs: ['x', 'W'], outputs: ['a'], name: 'up', attrs: { output_shape: [7, 7] } },
        { op: 'MaxPool', inputs: ['a'], outputs: ['y', 'idx'], name: 'pool', attrs: { kernel_shape: [2, 2] } },
        { op: 'Pad', inputs: ['y'], outputs: ['z'], name: 'wrap', attrs: { mode: { string: 'wrap' } } },
        { op: 'Conv', inputs: ['z', 'W'], outputs: ['w'], name: 'same', attrs: { auto_pad: { string: 'SAME_LOWER' }, dilations: [2, 2] } },
      ],
    });
    const err = (await loadModel(file).catch((e: unknown) => e)) as Error & { code: string };
    expect(err.code).toBe('MODEL_UNSUPPORTED_OP');
    expect(err.message).toMatch(/"ConvTranspose" at node "up" \(attribute output_shape/);
    expect(err.message).toMatch(/"MaxPool" at node "pool" \(the Indices output/);
    expect(err.message).toMatch(/"Pad" at node "wrap" \(mode "wrap"/);
    expect(err.message).toMatch(/"Conv" at node "same" \(auto_pad = SAME_LOWER with dilations/);
  });

  it('a Conv whose weights do not fit its input is refused naming the node', async () => {
    const err = (await loadModel(await write('badw', single([2, 5, 5], [1, 3, 3], { op: 'Conv', inputs: ['W'], name: 'c' }, [W('W', [1, 3, 3, 3])]))).catch(
      (e: unknown) => e,
    )) as Error & { code: string; field: string };
    expect(err.code).toBe('MODEL_UNSUPPORTED_GRAPH');
    expect(err.field).toBe('c');
  });

  it('counts the nonzeros of a convolution before building it (maxParameters)', async () => {
    // 64 x 64 channels over 60 x 60 with a 3x3 kernel: 132M terms from a 150 kB file.
    const file = await write(
      'huge',
      single([64, 62, 62], [64, 60, 60], { op: 'Conv', inputs: ['W'], name: 'big' }, [
        { name: 'W', dims: [64, 64, 3, 3], data: new Float32Array(64 * 64 * 9).fill(0.1) },
      ]),
    );
    const err = (await loadModel(file, { limits: { maxLayerWidth: 1 << 20 } }).catch((e: unknown) => e)) as Error & { code: string; field: string };
    expect(err.code).toBe('MODEL_TOO_LARGE');
    expect(err.field).toBe('big');
    expect(err.message).toMatch(/maxParameters/);
  });

  it('huge pads or kernels are refused before the taps are scanned', async () => {
    const t0 = performance.now();
    const padded = await write(
      'hugepads',
      single([1, 8, 8], [1, 8, 8], { op: 'AveragePool', inputs: [], name: 'pads', attrs: { kernel_shape: [3, 3], pads: [1e8, 1e8, 1e8, 1e8] } }),
    );
    expect(await loadModel(padded).catch((e: unknown) => e)).toMatchObject({ code: 'MODEL_TOO_LARGE', field: 'pads' });
    const kernel = await write(
      'hugekernel',
      single([1, 3000], [1, 3000], { op: 'Conv', inputs: ['W'], name: 'k', attrs: { pads: [200000, 0] } }, [
        { name: 'W', dims: [1, 1, 200001], data: new Float32Array(200001) },
      ]),
    );
    const err = (await loadModel(kernel, { limits: { maxTensorElements: 1 << 20 } }).catch((e: unknown) => e)) as Error & { code: string; field: string };
    expect(err).toMatchObject({ code: 'MODEL_TOO_LARGE', field: 'k' });
    expect(performance.now() - t0).toBeLessThan(3000);
  });

  it('counts the window indices of a max pool before building them (maxParameters)', async () => {
    // 16 channels of 128 x 128, 60 x 60 windows at stride 1: 1.1e8 indices from a 100-byte file.
    const file = await write('hugepool', single([16, 128, 128], [16, 69, 69], { op: 'MaxPool', inputs: [], name: 'pool', attrs: { kernel_shape: [60, 60] } }));
    const t0 = performance.now();
    const err = (await loadModel(file, { limits: { maxLayerWidth: 1 << 20 } }).catch((e: unknown) => e)) as Error & { code: string; field: string };
    expect(err.code).toBe('MODEL_TOO_LARGE');
    expect(err.field).toBe('pool');
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});
