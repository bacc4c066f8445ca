import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel, parseInput, runOnnxRuntime } from '../../src/model/index.ts';
import { evalFloat } from '../../src/quant/float-eval.ts';
import { HAVE_SHARED, REPO, SHARED_FIXTURES } from '../helpers/paths.ts';

/**
 * The lowering is exact in float: for real third-party models the IR evaluated in
 * float64 matches onnxruntime (float32) on the fixture's input and on random inputs.
 */
const FEDOS94_LOCAL = path.join(REPO, 'test', 'fixtures', 'models', 'fedos94-credit-scoring', 'credit_model.onnx');

const EZKL = [
  '1l_linear',
  '1l_mlp',
  '2l_relu_fc',
  '1l_relu',
  '1l_flatten',
  '1l_reshape',
  '1l_sigmoid',
  '1l_softmax',
  '1l_batch_norm',
  'clip',
  'sklearn_mlp',
  'large_mlp',
  '1l_conv',
  '4l_relu_conv_fc',
];

interface Case {
  name: string;
  file: string;
  input?: string;
  /** Expected layer kinds after folding, when worth pinning. */
  layers?: string[];
  head?: string;
}

const sharedCases: Case[] = [
  ...EZKL.map((n) => ({
    name: `ezkl/${n}`,
    file: path.join(SHARED_FIXTURES, 'ezkl', n, 'network.onnx'),
    input: path.join(SHARED_FIXTURES, 'ezkl', n, 'input.json'),
  })),
  { name: 'credit/fedos94', file: path.join(SHARED_FIXTURES, 'credit', 'fedos94-credit-scoring', 'credit_model.onnx'), head: 'sigmoid' },
  {
    name: 'credit/cybersuraksha',
    file: path.join(SHARED_FIXTURES, 'credit', 'cybersuraksha-loan-eligibility', 'loan_eligibility.onnx'),
    layers: ['dense'],
    head: 'sigmoid',
  },
];
const PINNED: Record<string, Partial<Case>> = {
  // A 4-d BatchNormalization (3 channels of 2 x 2) alone: a sparse diagonal.
  'ezkl/1l_batch_norm': { layers: ['sparse'] },
  'ezkl/1l_conv': { layers: ['sparse'] },
  // Two strided 5x5 Convs with Relu, then two Gemms.
  'ezkl/4l_relu_conv_fc': { layers: ['sparse', 'relu', 'sparse', 'relu', 'dense', 'relu', 'dense'] },
  'ezkl/1l_sigmoid': { layers: [], head: 'sigmoid' },
  'ezkl/1l_softmax': { layers: [], head: 'softmax' },
  // The Expand + Tile prelude only repeats the batch: it lowers to nothing.
  'ezkl/large_mlp': { layers: [...Array(8).fill(['dense', 'relu']).flat(), 'dense'] },
  'ezkl/sklearn_mlp': { layers: ['dense', 'relu', 'dense'] },
};

function close(got: ArrayLike<number>, want: ArrayLike<number>, tol = 1e-4): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    expect(err, `index ${i}: ${got[i]} vs ${want[i]}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(want[i])));
  }
}

async function checkAgainstOrt(c: Case): Promise<void> {
  const { ir } = await loadModel(c.file);
  const pinned = { ...c, ...PINNED[c.name] };
  if (pinned.layers) expect(ir.layers.map((l) => l.kind)).toEqual(pinned.layers);
  if (pinned.head) expect(ir.head).toBe(pinned.head);
  const inputs: Float64Array[] = [];
  if (c.input) {
    const doc = JSON.parse(await readFile(c.input, 'utf8')) as { input_data: number[][] };
    inputs.push(parseInput({ input_data: [doc.input_data[0].slice(0, ir.inputSize)] }, ir));
  }
  let seed = 1;
  const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
  for (let t = 0; t < 5; t++) inputs.push(Float64Array.from({ length: ir.inputSize }, rand));
  for (const x of inputs) close(evalFloat(ir, x).output, await runOnnxRuntime(c.file, x, ir));
}

describe('in-repo fixture: fedos94 credit scoring (MIT, external weights)', () => {
  it('loads its external data and matches onnxruntime', async () => {
    const m = await loadModel(FEDOS94_LOCAL);
    expect(m.externalBytes.map((b) => b.length)).toEqual([58880]);
    expect(m.ir.inputSize).toBe(34);
    expect(m.ir.layers.map((l) => l.kind)).toEqual(['dense', 'relu', 'dense', 'relu', 'dense', 'relu', 'dense']);
    await checkAgainstOrt({ name: 'credit/fedos94', file: FEDOS94_LOCAL, head: 'sigmoid' });
  });

  it('a missing or short external data file names the tensor and the file', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-ext-'));
    const lonely = path.join(dir, 'credit_model.onnx');
    await copyFile(FEDOS94_LOCAL, lonely);
    const missing = await loadModel(lonely).catch((e: unknown) => e);
    expect(missing).toMatchObject({ code: 'MODEL_EXTERNAL_DATA', field: 'credit_model.onnx.data' });
    expect((missing as Error).message).toMatch(/tensor ".+".*credit_model\.onnx\.data/);
    await writeFile(`${lonely}.data`, (await readFile(`${FEDOS94_LOCAL}.data`)).subarray(0, 1000));
    const short = await loadModel(lonely).catch((e: unknown) => e);
    expect(short).toMatchObject({ code: 'MODEL_EXTERNAL_DATA', field: 'credit_model.onnx.data' });
    expect((short as Error).message).toMatch(/too short/);
  });

  it('a truncated model is MODEL_UNREADABLE', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-cut-'));
    const bytes = await readFile(FEDOS94_LOCAL);
    const cut = path.join(dir, 'cut.onnx');
    await writeFile(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await expect(loadModel(cut)).rejects.toMatchObject({ code: 'MODEL_UNREADABLE', field: 'model' });
  });
});

if (!HAVE_SHARED) console.warn('skipping the third-party float conformance tests: ../shared/fixtures is absent');

describe.skipIf(!HAVE_SHARED || !existsSync(path.join(SHARED_FIXTURES, 'ezkl')))('third-party fixtures in float (../shared/fixtures)', () => {
  it.each(sharedCases)('$name: lowered IR matches onnxruntime within 1e-4', async (c) => {
    await checkAgainstOrt(c);
  });

  it.each(sharedCases)('$name: the first half of the file is MODEL_UNREADABLE', async (c) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-half-'));
    const bytes = await readFile(c.file);
    const cut = path.join(dir, path.basename(c.file));
    await writeFile(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await expect(loadModel(cut)).rejects.toMatchObject({ code: 'MODEL_UNREADABLE' });
  });
});

beforeAll(() => {
  expect(existsSync(FEDOS94_LOCAL)).toBe(true);
});
