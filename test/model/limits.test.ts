import { readdirSync, existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { syntheticModel } from '../../bench/models.ts';
import { generateModelTemplate } from '../../src/circuit/index.ts';
import { isZkinferError, type ZkinferError } from '../../src/core/errors.ts';
import {
  buildOnnx,
  DEFAULT_MODEL_LIMITS,
  type GraphSpec,
  type Layer,
  loadModel,
  MODEL_LIMIT_ENV,
  modelLimitsFromEnv,
  scanOnnx,
} from '../../src/model/index.ts';
import { loadModelIsolated } from '../../src/pipeline/load-isolated.ts';
import { compileLoaded, setupModel, type CompiledModel } from '../../src/pipeline/index.ts';
import { developmentPtau, maxPtauPowerFromEnv } from '../../src/prover/ptau.ts';
import { checkCircuitSize, DEFAULT_SETTINGS, estimateConstraints, inputQuantFromRanges, quantizeModel } from '../../src/quant/index.ts';
import { everyModeTrees, treeLayer } from '../helpers/trees.ts';
import { denseLayer, handIr, maxPoolLayer, rng, sparseLayer } from '../helpers/ir.ts';
import { HAVE_SHARED, REPO, SHARED_FIXTURES } from '../helpers/paths.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-limits-'));
});

async function write(name: string, bytes: Uint8Array): Promise<string> {
  const file = path.join(dir, `${name}.onnx`);
  await writeFile(file, bytes);
  return file;
}

// --- protobuf wire format, to build hostile files too large to build as objects ---
function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}
/** A length-delimited field: tag, length, payload. */
function ld(field: number, payload: Uint8Array | string): Uint8Array {
  const p = typeof payload === 'string' ? new TextEncoder().encode(payload) : payload;
  const head = Uint8Array.from([...varint((field << 3) | 2), ...varint(p.length)]);
  const out = new Uint8Array(head.length + p.length);
  out.set(head);
  out.set(p, head.length);
  return out;
}
function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let k = 0;
  for (const p of parts) {
    out.set(p, k);
    k += p.length;
  }
  return out;
}

/** `n` Identity nodes as GraphProto fields, written straight into one buffer (~30 bytes each). */
function identityNodes(n: number): Uint8Array {
  const buf = Buffer.alloc(n * 64);
  let k = 0;
  const str = (field: number, s: string) => {
    buf[k++] = (field << 3) | 2;
    buf[k++] = s.length;
    k += buf.write(s, k, 'latin1');
  };
  for (let i = 0; i < n; i++) {
    const body = 4 * 2 + `v${i}`.length + `v${i + 1}`.length + `id${i}`.length + 'Identity'.length;
    buf[k++] = (1 << 3) | 2;
    buf[k++] = body;
    str(1, `v${i}`);
    str(2, `v${i + 1}`);
    str(3, `id${i}`);
    str(4, 'Identity');
  }
  return buf.subarray(0, k);
}

/** x [1, n] -> Relu -> y: a valid model that hostile parts are appended to. */
const reluGraph = (n: number): GraphSpec => ({
  inputs: [{ name: 'x', dims: [1, n] }],
  output: { name: 'y', dims: [1, n] },
  nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'], name: 'relu' }],
});

/**
 * Protobuf messages merge when concatenated: appending `ModelProto{graph{...}}` adds
 * nodes or initializers to the graph of a valid model.
 */
const appendToGraph = (model: Uint8Array, graphFields: Uint8Array) => cat(model, ld(7, graphFields));

/** Runs `f` and reports how far the process's resident memory rose above where it was. */
async function rssGrowth<T>(f: () => Promise<T>): Promise<{ result: T | ZkinferError; mb: number }> {
  const before = process.memoryUsage().rss;
  const peakBefore = process.resourceUsage().maxRSS * 1024;
  let result: T | ZkinferError;
  try {
    result = await f();
  } catch (e) {
    result = e as ZkinferError;
  }
  const peakAfter = process.resourceUsage().maxRSS * 1024;
  // A new peak is measured exactly; otherwise the call stayed under an earlier peak and
  // the rise in current RSS is what it kept.
  const grown = peakAfter > peakBefore ? peakAfter - before : process.memoryUsage().rss - before;
  return { result, mb: Math.max(0, grown) / 2 ** 20 };
}

function expectTooLarge(e: unknown, limit: string, field: string, mention: RegExp[] = []): void {
  expect(isZkinferError(e, 'MODEL_TOO_LARGE'), String(e)).toBe(true);
  const err = e as ZkinferError;
  expect(err.message).toContain(limit);
  expect(err.message).toContain(MODEL_LIMIT_ENV[limit as keyof typeof MODEL_LIMIT_ENV] ?? limit);
  expect(err.field).toBe(field);
  for (const m of mention) expect(err.message).toMatch(m);
}

describe('the attacks of issue #12, refused before allocating', () => {
  it('ConstantOfShape([1e8]) x 3 in a 300-byte file: maxTensorElements, naming the node', async () => {
    const bytes = buildOnnx({
      ...reluGraph(4),
      initializers: [{ name: 'shape', dims: [1], data: [1e8], type: 'int64' }],
      nodes: [
        { op: 'ConstantOfShape', inputs: ['shape'], outputs: ['c0'], name: 'cos0' },
        { op: 'ConstantOfShape', inputs: ['shape'], outputs: ['c1'], name: 'cos1' },
        { op: 'ConstantOfShape', inputs: ['shape'], outputs: ['c2'], name: 'cos2' },
        { op: 'Relu', inputs: ['x'], outputs: ['y'], name: 'relu' },
      ],
    });
    expect(bytes.length).toBeLessThan(400);
    const file = await write('constant-of-shape', bytes);
    const { result, mb } = await rssGrowth(() => loadModel(file));
    expectTooLarge(result, 'maxTensorElements', 'cos0', [/100,000,000/, /ConstantOfShape/]);
    expect(mb).toBeLessThan(200);
  });

  it('Expand and Tile of a constant to a huge shape: refused from the shape', async () => {
    const expand = buildOnnx({
      ...reluGraph(4),
      initializers: [
        { name: 'one', dims: [1], data: [1] },
        { name: 'shape', dims: [2], data: [30000, 30000], type: 'int64' },
        { name: 'reps', dims: [1], data: [1e9], type: 'int64' },
      ],
      nodes: [
        { op: 'Expand', inputs: ['one', 'shape'], outputs: ['e'], name: 'expand' },
        { op: 'Relu', inputs: ['x'], outputs: ['y'], name: 'relu' },
      ],
    });
    expectTooLarge(await loadModel(await write('expand', expand)).catch((e) => e), 'maxTensorElements', 'expand', [/900,000,000/]);
    const tile = buildOnnx({
      ...reluGraph(4),
      initializers: [
        { name: 'one', dims: [1], data: [1] },
        { name: 'reps', dims: [1], data: [1e9], type: 'int64' },
      ],
      nodes: [
        { op: 'Tile', inputs: ['one', 'reps'], outputs: ['t'], name: 'tile' },
        { op: 'Relu', inputs: ['x'], outputs: ['y'], name: 'relu' },
      ],
    });
    expectTooLarge(await loadModel(await write('tile', tile)).catch((e) => e), 'maxTensorElements', 'tile', [/1,000,000,000/]);
  });

  it('many folded constants, each allowed, are bounded together (maxConstantElements)', async () => {
    const nodes = Array.from({ length: 10 }, (_, i) => ({ op: 'ConstantOfShape', inputs: ['shape'], outputs: [`c${i}`], name: `cos${i}` }));
    const bytes = buildOnnx({
      ...reluGraph(4),
      initializers: [{ name: 'shape', dims: [1], data: [1_000_000], type: 'int64' }],
      nodes: [...nodes, { op: 'Relu', inputs: ['x'], outputs: ['y'], name: 'relu' }],
    });
    // 1e6 each fits maxTensorElements; the fifth brings the total over 2^22.
    expectTooLarge(await loadModel(await write('many-constants', bytes)).catch((e) => e), 'maxConstantElements', 'cos4');
  });

  it('a 60 MB int64_data tensor of 1-byte varints: refused from its length, before decoding', async () => {
    const n = 60_000_000;
    const tensor = cat(ld(1, Uint8Array.from(varint(n))), Uint8Array.from([2 << 3, 7]), ld(8, 'big'), ld(7, new Uint8Array(n)));
    const file = await write('int64-varints', appendToGraph(buildOnnx(reluGraph(4)), ld(5, tensor)));
    const t0 = performance.now();
    const { result, mb } = await rssGrowth(() => loadModel(file));
    const ms = performance.now() - t0;
    expectTooLarge(result, 'maxTensorElements', 'big', [/60,000,000/]);
    // Reading the file is most of it (60 MB); decoding would be 3.4 GB and 30 s.
    expect(mb).toBeLessThan(200);
    expect(ms).toBeLessThan(5000);
    // Without dims the stored data alone is refused: bytes over maxInitializerBytes.
    const noDims = cat(Uint8Array.from([2 << 3, 7]), ld(8, 'big2'), ld(7, new Uint8Array(20_000_000)));
    const file2 = await write('int64-varints-nodims', appendToGraph(buildOnnx(reluGraph(4)), ld(5, noDims)));
    expectTooLarge(await loadModel(file2, { limits: { maxTensorElements: 1e9 } }).catch((e) => e), 'maxInitializerBytes', 'big2');
  });

  it('input [1, 8000] then Mul and Add (a 155-byte 8000 x 8000 dense layer): maxLayerWidth; with the width allowed, a sparse diagonal', async () => {
    const bytes = buildOnnx({
      inputs: [{ name: 'x', dims: [1, 8000] }],
      output: { name: 'y', dims: [1, 8000] },
      initializers: [
        { name: 'a', dims: [], data: [2] },
        { name: 'b', dims: [], data: [1] },
      ],
      nodes: [
        { op: 'Mul', inputs: ['x', 'a'], outputs: ['m'], name: 'mul' },
        { op: 'Add', inputs: ['m', 'b'], outputs: ['y'], name: 'add' },
      ],
    });
    expect(bytes.length).toBeLessThan(200);
    const file = await write('wide', bytes);
    const { result, mb } = await rssGrowth(() => loadModel(file));
    expectTooLarge(result, 'maxLayerWidth', 'x', [/8,000/]);
    expect(mb).toBeLessThan(200);
    // With the width allowed, the elementwise layer is a sparse diagonal: 8000 terms, not
    // an 8000 x 8000 matrix.
    const wider = await rssGrowth(() => loadModel(file, { limits: { maxLayerWidth: 10_000 } }));
    const layers = (wider.result as { ir: { layers: { kind: string; vals?: Float64Array }[] } }).ir.layers;
    expect(layers.map((l) => l.kind)).toEqual(['sparse']);
    expect(layers[0].vals!.length).toBe(8000);
    // Stored weights count too: a 600 x 600 initializer is over 250,000 before it is decoded.
    const big = buildOnnx({ ...reluGraph(4), initializers: [{ name: 'W', dims: [600, 600], data: new Float32Array(360_000) }] });
    expectTooLarge(await loadModel(await write('stored', big)).catch((e) => e), 'maxParameters', 'W', [/360,000/]);
    expect(wider.mb).toBeLessThan(200);
  });

  it('1e6 Identity nodes (30 MB): maxNodes, counted without decoding', async () => {
    const n = 1_000_000;
    const bytes = appendToGraph(buildOnnx(reluGraph(4)), identityNodes(n));
    expect(bytes.length).toBeGreaterThan(25e6);
    const file = await write('identity', bytes);
    const t0 = performance.now();
    const { result, mb } = await rssGrowth(() => loadModel(file));
    const ms = performance.now() - t0;
    expectTooLarge(result, 'maxNodes', 'maxNodes', [/1,000,001/]);
    expect(mb).toBeLessThan(200);
    expect(ms).toBeLessThan(3000);
  });

  it('input [1, 500] then Relu (94 bytes, 11.5k constraints): maxConstraints refuses it before compiling when set lower', async () => {
    const bytes = buildOnnx(reluGraph(500));
    expect(bytes.length).toBeLessThan(120);
    const loaded = await loadModel(await write('relu500', bytes));
    expect(estimateConstraints(loaded.ir, DEFAULT_SETTINGS).total).toBe(500 * 22 + 500);
    const t0 = performance.now();
    const err = await compileLoaded(loaded, { limits: { maxConstraints: 10_000 } }).catch((e) => e);
    expectTooLarge(err, 'maxConstraints', 'input', [/11,500/]);
    // Refused from the plan: no circom run (which takes seconds for this circuit).
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});

describe('structure', () => {
  it('matrices built from a reused weight are bounded by their total (maxParameters)', async () => {
    const r = rng(5);
    const W = Array.from({ length: 300 * 300 }, () => r() - 0.5);
    const bytes = buildOnnx({
      inputs: [{ name: 'x', dims: [1, 300] }],
      output: { name: 'y', dims: [1, 300] },
      initializers: [{ name: 'W', dims: [300, 300], data: W }],
      nodes: [
        { op: 'MatMul', inputs: ['x', 'W'], outputs: ['a'], name: 'mm0' },
        { op: 'Relu', inputs: ['a'], outputs: ['b'], name: 'r0' },
        { op: 'MatMul', inputs: ['b', 'W'], outputs: ['c'], name: 'mm1' },
        { op: 'Relu', inputs: ['c'], outputs: ['d'], name: 'r1' },
        { op: 'MatMul', inputs: ['d', 'W'], outputs: ['y'], name: 'mm2' },
      ],
    });
    expectTooLarge(await loadModel(await write('reused', bytes)).catch((e) => e), 'maxParameters', 'mm2', [/270,900/]);
  });

  it('subgraphs nested 100 deep are refused without recursing into the decoder', async () => {
    let g = ld(1, cat(ld(3, 'leaf'), ld(4, 'Relu')));
    for (let i = 0; i < 100; i++) g = ld(1, cat(ld(3, `if${i}`), ld(4, 'If'), ld(5, cat(ld(1, 'then_branch'), ld(6, g)))));
    const err = await loadModel(await write('nested', appendToGraph(buildOnnx(reluGraph(4)), g))).catch((e) => e);
    expect(err).toMatchObject({ code: 'MODEL_TOO_LARGE', field: 'model' });
    expect(err.message).toMatch(/more than 32 levels deep/);
  });

  it('a known field with the wrong wire type is MODEL_UNREADABLE (the decoder would read it differently)', async () => {
    // graph (field 7) as a varint
    const err = await loadModel(await write('wiretype', cat(buildOnnx(reluGraph(4)), Uint8Array.from([7 << 3, 5])))).catch((e) => e);
    expect(err).toMatchObject({ code: 'MODEL_UNREADABLE', field: 'model' });
  });

  it('encodings protobufjs would read out of step with the scan are MODEL_UNREADABLE', async () => {
    const base = buildOnnx(reluGraph(4));
    // A packed float run that is not a whole number of floats: the decoder would overrun it.
    const floats = ld(5, cat(Uint8Array.from([2 << 3, 1]), ld(4, new Uint8Array(5))));
    // A tag varint of 6 bytes: the decoder reads 5 and skips 5.
    const longTag = Uint8Array.from([0x80 | (7 << 3) | 2, 0x80, 0x80, 0x80, 0x80, 0x00, 0]);
    // An int32 (data_type) of 7 bytes: the decoder consumes 10, so the name field after it is not one.
    const int32 = ld(5, cat(Uint8Array.from([2 << 3, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]), ld(8, 'abcdef')));
    for (const [name, extra, why] of [
      ['floats', ld(7, floats), /not a whole number of 4-byte values/],
      ['tag', longTag, /a tag or length/],
      ['int32', ld(7, int32), /overruns|truncated|past/],
    ] as const) {
      const bytes = cat(base, extra);
      expect(() => scanOnnx(bytes, DEFAULT_MODEL_LIMITS), name).toThrow(why);
      const err = await loadModel(await write(`step-${name}`, bytes)).catch((e) => e);
      expect(err, name).toMatchObject({ code: 'MODEL_UNREADABLE', field: 'model' });
    }
  });

  it('never counts less than the decoder builds (mutated models, seeded)', async () => {
    const { onnx } = await import('../../src/model/onnx/file.ts');
    const unlimited = Object.fromEntries(Object.keys(DEFAULT_MODEL_LIMITS).map((k) => [k, Number.MAX_SAFE_INTEGER])) as typeof DEFAULT_MODEL_LIMITS;
    const r = rng(12);
    const seeds = [
      await readFile(path.join(REPO, 'examples', 'loan', 'loan-model.onnx')),
      buildOnnx({ ...reluGraph(3), initializers: [{ name: 'k', dims: [3], data: [1, 2, 3], type: 'int64' }] }),
    ];
    let compared = 0;
    for (let iter = 0; iter < 6000; iter++) {
      const bytes = Uint8Array.from(seeds[iter % 2]);
      // Continuation bytes half the time: long varints are where a scan and a decoder part ways.
      for (let m = 1 + Math.floor(r() * 4); m > 0; m--)
        bytes[Math.floor(r() * bytes.length)] = r() < 0.5 ? 0x80 | Math.floor(r() * 128) : Math.floor(r() * 256);
      let scan;
      let model;
      try {
        scan = scanOnnx(bytes, unlimited);
        model = onnx.ModelProto.decode(bytes);
      } catch {
        continue;
      }
      compared++;
      const graphs = [model.graph, ...(model.functions ?? [])].filter(Boolean);
      const nodes = graphs.reduce((a, g) => a + (g!.node?.length ?? 0), 0);
      expect(scan.nodes).toBeGreaterThanOrEqual(nodes);
      const elements = (model.graph?.initializer ?? []).reduce((a, t) => a + (t.dims ?? []).reduce((x: number, d) => x * Number(d), 1), 0);
      expect(scan.tensorElements).toBeGreaterThanOrEqual(elements);
    }
    expect(compared).toBeGreaterThan(500);
  });

  it('the file size is checked before it is read', async () => {
    const file = await write('small', buildOnnx(reluGraph(4)));
    expectTooLarge(await loadModel(file, { limits: { maxModelBytes: 10 } }).catch((e) => e), 'maxModelBytes', 'model');
  });
});

describe('the defaults admit every model the repo uses', () => {
  const files: string[] = [];
  const walk = (d: string) => {
    for (const f of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, f.name);
      if (f.isDirectory()) walk(p);
      else if (f.name.endsWith('.onnx')) files.push(p);
    }
  };
  for (const d of [path.join(REPO, 'examples'), path.join(REPO, 'test', 'fixtures', 'models'), ...(HAVE_SHARED ? [SHARED_FIXTURES] : [])])
    if (existsSync(d)) walk(d);

  it.each(files.map((f) => ({ name: path.relative(REPO, f), f })))('$name', async ({ f }) => {
    const loaded = await loadModel(f).catch((e) => e);
    // Models with ops not supported yet are refused as such, not as too large.
    if (isZkinferError(loaded)) return expect(loaded.code).toBe('MODEL_UNSUPPORTED_OP');
    const total = checkCircuitSize(loaded.ir, DEFAULT_SETTINGS);
    expect(total).toBe(generateModelTemplate(quantizeModel(loaded.ir, DEFAULT_SETTINGS)).constraints);
  });

  it.each([
    [784, 64, 10],
    [784, 128, 10],
    [41, 82, 82, 1],
  ])('bench synthetic mlp %j', (...sizes) => {
    const { ir } = syntheticModel(sizes, 'softmax');
    expect(checkCircuitSize(ir, DEFAULT_SETTINGS)).toBeLessThan(DEFAULT_MODEL_LIMITS.maxConstraints);
  });

  it('the model scan counts and the limits leave headroom over the largest (large_mlp)', async () => {
    if (!HAVE_SHARED) return;
    const loaded = await loadModel(path.join(SHARED_FIXTURES, 'ezkl', 'large_mlp', 'network.onnx'), {
      limits: { maxParameters: 90_900 + 100, maxConstraints: 33_600 },
    });
    expect(loaded.ir.layers.length).toBe(17);
  });
});

describe('the constraint estimate equals the generator', () => {
  const relu = (name: string, size: number): Layer => ({ kind: 'relu', name, size, nodes: [name] });
  const r = rng(11);
  const cases: [string, Parameters<typeof handIr>, { scaleBits: number; bits: number }][] = [
    [
      'every layer, softmax',
      [
        4,
        [
          relu('relu0', 4),
          denseLayer('fc1', 4, 3, r),
          { kind: 'leaky_relu', name: 'prelu', size: 3, alpha: Float64Array.from([0.1, 0.25, -0.3]), nodes: [] },
          { kind: 'clip', name: 'clip', size: 3, min: -0.5, max: 0.75, nodes: [] },
          { kind: 'sigmoid', name: 'sigmoid', size: 3, nodes: [] },
          { kind: 'leaky_relu', name: 'leaky2', size: 3, alpha: Float64Array.from([0.5, 0.5, 0.5]), nodes: [] },
          denseLayer('fc2', 3, 4, r, 3),
        ],
        'softmax',
        4,
      ],
      { scaleBits: 8, bits: 24 },
    ],
    [
      'sigmoid head reusing sign digits',
      [5, [denseLayer('fc1', 5, 4, r), relu('r', 4), denseLayer('fc2', 4, 2, r, 0.01)], 'sigmoid', 2],
      { scaleBits: 10, bits: 32 },
    ],
    [
      'sparse layers and max pools, before and after the rescale',
      [
        8,
        [
          maxPoolLayer('p0', 8, [[0, 1], [2, 3, 4], [5], [6, 7]]),
          sparseLayer('s1', 4, 9, 2, r, 0.05),
          maxPoolLayer('p1', 9, [[0, 1, 2], [3, 4], [5], [6, 7, 8]]),
          relu('r1', 4),
          sparseLayer('s2', 4, 3, 2, r),
          relu('r2', 3),
          maxPoolLayer('p2', 3, [[0, 1], [2]]),
        ],
        'sigmoid',
        2,
      ],
      { scaleBits: 10, bits: 32 },
    ],
    ['sigmoid head after relu', [3, [denseLayer('fc1', 3, 2, r), relu('r', 2)], 'sigmoid', 2], { scaleBits: 10, bits: 32 }],
    ['trees on the inputs, argmax head', [3, [treeLayer('trees', 3, 2, everyModeTrees(3, 2), [0.25, -0.125])], 'argmax', 2], { scaleBits: 8, bits: 24 }],
    [
      'trees after a dense layer, sigmoid head',
      [3, [denseLayer('fc', 3, 3, r), treeLayer('trees', 3, 1, everyModeTrees(3, 1), [0.5])], 'sigmoid', 1],
      { scaleBits: 10, bits: 32 },
    ],
    [
      'clip bounds out of range and one-sided',
      [
        3,
        [
          { kind: 'clip', name: 'c1', size: 3, min: -1e9, max: 6, nodes: [] },
          { kind: 'clip', name: 'c2', size: 3, min: 0, max: Infinity, nodes: [] },
        ],
        'none',
        3,
      ],
      { scaleBits: 10, bits: 32 },
    ],
  ];
  it.each(cases)('%s', (_name, args, st) => {
    const ir = handIr(...args);
    const plan = generateModelTemplate(quantizeModel(ir, st)).plan;
    const est = estimateConstraints(ir, st);
    expect(est.layers.map((l) => l.constraints)).toEqual(plan.map((p) => p.constraints));
  });

  it('with per-feature input scales and widths (the first layer absorbs the scales)', () => {
    const st = { scaleBits: 10, bits: 32 };
    // Small weights: the first layer needs extra weight bits at the model's scale, fewer once scales are absorbed.
    const ir = handIr(4, [denseLayer('fc1', 4, 6, r, 0.002), relu('r', 6), denseLayer('fc2', 6, 2, r)], 'softmax', 2);
    const iq = inputQuantFromRanges([0, -1, 0, -5], [150_000, 1, 3, 5], st, (i) => `x[${i}]`);
    expect(iq.scaleBits.some((s) => s < 10)).toBe(true);
    const plan = generateModelTemplate(quantizeModel(ir, st, iq)).plan;
    const est = estimateConstraints(ir, st, iq);
    expect(est.layers.map((l) => l.constraints)).toEqual(plan.map((p) => p.constraints));
    // Without the per-feature quantization the estimate is an upper bound.
    expect(estimateConstraints(ir, st).total).toBeGreaterThanOrEqual(est.total);
  });

  it('a first tree ensemble at per-feature scales and widths (its thresholds absorb the scales)', () => {
    const st = { scaleBits: 10, bits: 32 };
    const ir = handIr(3, [treeLayer('trees', 3, 2, everyModeTrees(3, 2), [0.25, -0.125])], 'softmax', 2);
    const iq = inputQuantFromRanges([-2000, -3, 0], [2000, 3, 0.5], st, (i) => `x[${i}]`);
    expect(iq.scaleBits.some((s) => s < 10)).toBe(true);
    const plan = generateModelTemplate(quantizeModel(ir, st, iq)).plan;
    expect(estimateConstraints(ir, st, iq).layers.map((l) => l.constraints)).toEqual(plan.map((p) => p.constraints));
  });

  it('with narrow inputs (pixels in [0, 1]) the first layer rescales narrower, and the estimate says so', () => {
    const st = { scaleBits: 10, bits: 32 };
    const ir = handIr(16, [denseLayer('fc1', 16, 8, r, 0.25), relu('r', 8), denseLayer('fc2', 8, 3, r)], 'softmax', 3);
    const iq = inputQuantFromRanges(Array(16).fill(0), Array(16).fill(1), st, (i) => `x[${i}]`);
    const q = quantizeModel(ir, st, iq);
    const first = q.layers[0] as Extract<(typeof q.layers)[number], { kind: 'dense' }>;
    expect(first.accBits).toBeDefined();
    expect(first.accBits!).toBeLessThan(22 + first.shift);
    const plan = generateModelTemplate(q).plan;
    const est = estimateConstraints(ir, st, iq);
    expect(est.layers.map((l) => l.constraints)).toEqual(plan.map((p) => p.constraints));
    expect(plan[1].constraints).toBe(8 * first.accBits!);
  });

  it('with categorical columns: one constraint per category in the estimate and the plan', () => {
    const st = { scaleBits: 10, bits: 32 };
    const base = handIr(5, [denseLayer('fc1', 5, 2, r)], 'sigmoid', 2);
    const ir = {
      ...base,
      inputs: [
        { name: 'n', shape: [1], size: 1, offset: 0 },
        { name: 'c', shape: [2], size: 4, offset: 1, categories: [['a', 'b', 'c'], null] },
      ],
    };
    const plan = generateModelTemplate(quantizeModel(ir, st)).plan;
    expect(plan[0]).toMatchObject({ constraints: 2 * 22 + 3, formula: '2 x 22 + 3 x 1 (one-hot)' });
    expect(estimateConstraints(ir, st).layers.map((l) => l.constraints)).toEqual(plan.map((p) => p.constraints));
  });
});

describe('setup size is policy', () => {
  it('a development ptau over maxPtauPower is refused before anything is generated', async () => {
    const log: string[] = [];
    const err = await developmentPtau(17, (m) => log.push(m), 16).catch((e) => e);
    expect(err).toMatchObject({ code: 'MODEL_TOO_LARGE', field: 'maxPtauPower' });
    expect(err.message).toMatch(/2\^17/);
    expect(err.message).toMatch(/ZKINFER_MAX_PTAU_POWER/);
    expect(log).toEqual([]);
  });

  it('setupModel refuses a circuit needing more than the setting, naming both', async () => {
    const m = { compiled: { constraints: 70_000, nPubOut: 3, nPubIn: 1 } } as unknown as CompiledModel;
    const err = await setupModel(m, { maxPtauPower: 16 }).catch((e) => e);
    expect(err).toMatchObject({ code: 'MODEL_TOO_LARGE', field: 'maxPtauPower' });
    expect(err.message).toMatch(/70,000 constraints\) needs powers of tau 2\^17, over the limit maxPtauPower = 16/);
    const lower = await setupModel({ compiled: { constraints: 5000, nPubOut: 3, nPubIn: 1 } } as unknown as CompiledModel, { maxPtauPower: 12 }).catch(
      (e) => e,
    );
    expect(lower.message).toMatch(/2\^13, over the limit maxPtauPower = 12/);
  });
});

describe('configuration', () => {
  it('reads every ZKINFER_MAX_* setting and reports every bad one at once', () => {
    const { limits, problems } = modelLimitsFromEnv({
      ZKINFER_MAX_NODES: '500',
      ZKINFER_MAX_PARAMETERS: '2_000_000',
      ZKINFER_MAX_LAYER_WIDTH: 'wide',
      ZKINFER_MAX_CONSTRAINTS: '-3',
    });
    expect(limits.maxNodes).toBe(500);
    expect(limits.maxParameters).toBe(2_000_000);
    expect(limits.maxLayerWidth).toBe(DEFAULT_MODEL_LIMITS.maxLayerWidth);
    expect(problems).toHaveLength(2);
    expect(problems.join()).toMatch(/ZKINFER_MAX_LAYER_WIDTH.*ZKINFER_MAX_CONSTRAINTS/);
    expect(maxPtauPowerFromEnv({ ZKINFER_MAX_PTAU_POWER: '18' })).toEqual({ maxPtauPower: 18, problems: [] });
    expect(maxPtauPowerFromEnv({ ZKINFER_MAX_PTAU_POWER: '99' }).problems).toHaveLength(1);
    expect(maxPtauPowerFromEnv({}).maxPtauPower).toBe(16);
  });

  it('a configured limit applies (maxNodes 5 refuses a 9-node model)', async () => {
    const file = path.join(REPO, 'examples', 'loan', 'loan-model.onnx');
    expectTooLarge(await loadModel(file, { limits: { maxNodes: 5 } }).catch((e) => e), 'maxNodes', 'maxNodes', [/node count of the graph is 9/]);
  });
});

describe('loadModelIsolated', () => {
  it('loads a model in a worker thread: the same IR as loadModel', async () => {
    const file = path.join(REPO, 'examples', 'loan', 'loan-model.onnx');
    const iso = await loadModelIsolated(file, { settings: DEFAULT_SETTINGS });
    expect(iso.ir).toEqual((await loadModel(file)).ir);
  });

  it.each([
    ['1e6 Identity nodes', 'maxNodes'],
    ['ConstantOfShape([1e8])', 'maxTensorElements'],
  ])('refuses %s with MODEL_TOO_LARGE while the caller stays responsive', async (name, limit) => {
    let bytes: Uint8Array;
    if (limit === 'maxNodes') {
      bytes = appendToGraph(buildOnnx(reluGraph(4)), identityNodes(1_000_000));
    } else {
      bytes = buildOnnx({
        ...reluGraph(4),
        initializers: [{ name: 'shape', dims: [1], data: [1e8], type: 'int64' }],
        nodes: [
          { op: 'ConstantOfShape', inputs: ['shape'], outputs: ['c0'], name: 'cos0' },
          { op: 'Relu', inputs: ['x'], outputs: ['y'], name: 'relu' },
        ],
      });
    }
    const file = await write(`iso-${limit}`, bytes);
    let last = performance.now();
    let maxDelay = 0;
    const tick = setInterval(() => {
      const now = performance.now();
      maxDelay = Math.max(maxDelay, now - last - 10);
      last = now;
    }, 10);
    const { result, mb } = await rssGrowth(() => loadModelIsolated(file));
    clearInterval(tick);
    expect(isZkinferError(result, 'MODEL_TOO_LARGE'), `${name}: ${String(result)}`).toBe(true);
    expect((result as ZkinferError).message).toContain(limit);
    expect(maxDelay).toBeLessThan(100);
    expect(mb).toBeLessThan(200);
  });

  it('past every limit, the worker heap bound still stops the import (not the process)', async () => {
    const file = await write('iso-heap', appendToGraph(buildOnnx(reluGraph(4)), identityNodes(1_000_000)));
    const unlimited = Object.fromEntries(Object.keys(DEFAULT_MODEL_LIMITS).map((k) => [k, Number.MAX_SAFE_INTEGER]));
    const { result, mb } = await rssGrowth(() => loadModelIsolated(file, { limits: unlimited, maxHeapMb: 64 }));
    expect(result).toMatchObject({ code: 'MODEL_TOO_LARGE', field: 'importHeapMb' });
    expect(mb).toBeLessThan(300);
  });

  it('a worker over its time is stopped and refused', async () => {
    const file = path.join(REPO, 'examples', 'loan', 'loan-model.onnx');
    const err = await loadModelIsolated(file, { timeoutMs: 1 }).catch((e) => e);
    expect(err).toMatchObject({ code: 'MODEL_TOO_LARGE', field: 'importTimeoutMs' });
  });
});
