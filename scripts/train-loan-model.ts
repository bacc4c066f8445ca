/**
 * Trains the bundled loan-decision example on a synthetic data set and exports it to ONNX.
 *
 *     npx tsx scripts/train-loan-model.ts
 *
 * Deterministic (one seeded generator, fixed epochs), so a rerun rewrites byte-identical
 * files: the tests and bench/RESULTS.md are pinned to this model. Writes
 * examples/loan/{loan-model.onnx, applicant.json, applicants.json, expected.json, test-set.csv};
 * examples/loan/README.md describes the data rule and the graph.
 *
 * The script is self-contained (onnx-proto, onnxruntime-node, no imports from src/) so the
 * example does not move when the library's own model code changes.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pkg from 'onnx-proto';
import ort from 'onnxruntime-node';

/** onnx-proto is CommonJS without detectable named exports: take the namespace from the default export. */
const { onnx } = pkg;

const OUT_DIR = path.resolve(import.meta.dirname, '..', 'examples', 'loan');

/** Graph input names, in the order the model concatenates them (and applicants.json lists them). */
export const FEATURES = [
  'age',
  'income',
  'loan_amount',
  'debt_to_income',
  'credit_history_years',
  'late_payments',
  'employment_years',
  'credit_score',
] as const;

const SEED = 20261124;
const APPLICANTS = 4000;
/** First 80 % train, last 20 % test; the generator is i.i.d., so no shuffle is needed before the split. */
const TRAIN_ROWS = 3200;
const LAYER_SIZES = [FEATURES.length, 16, 8, 1] as const;
const EPOCHS = 40;
const BATCH = 32;
/** Adam with the usual defaults; the decay complements are written out, as the pinned model was trained with them. */
const ADAM = { lr: 0.003, beta1: 0.9, beta2: 0.999, gain1: 0.1, gain2: 0.001, eps: 1e-8 };
/** onnxruntime runs float32, training runs float64: this bounds the rounding gap the export may add. */
const ORT_TOLERANCE = 1e-5;
const ORT_CHECK_ROWS = 100;
const EXAMPLE_ROWS = 20;

type Rand = () => number;

/** mulberry32: tiny and seeded; statistical quality is ample for a synthetic data set. */
function mulberry32(seed: number): Rand {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Box-Muller from two uniforms (`1 - u` keeps the log finite). */
function normal(rand: Rand): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
/** Applicants are reported to one decimal, like a form would be filled in. */
const round1 = (v: number) => Math.round(v * 10) / 10;

interface Example {
  /** Raw features in natural units, in FEATURES order. */
  x: number[];
  approved: 0 | 1;
}

/**
 * One synthetic applicant and the latent rule's label. The features are correlated the way
 * credit files are (older people have longer histories, income grows with tenure, the score
 * falls with late payments and debt) so that the model sees realistic joint inputs.
 * The draw order is part of the pinned output: do not reorder the lines.
 */
function syntheticApplicant(rand: Rand): Example {
  const age = Math.round(clamp(21 + rand() * 54, 21, 75));
  const employment = round1(clamp(rand() * (age - 18), 0, 40));
  const income = round1(clamp(Math.exp(3.6 + 0.5 * normal(rand) + 0.01 * employment), 15, 250));
  const loan = round1(clamp(income * (0.3 + rand() * 2.2), 1, 500));
  const dti = round1(clamp(10 + 25 * rand() + 15 * normal(rand) * 0.5, 0, 80));
  const history = round1(clamp((age - 18) * rand(), 0, 40));
  const late = Math.round(clamp(-Math.log(1 - rand()) * 1.2, 0, 12));
  const score = Math.round(clamp(600 + 6 * history - 25 * late - 1.5 * dti + 60 * normal(rand), 300, 850));
  const approved = latentScore({ score, income, loan, dti, late, employment, history }, normal(rand)) > 0 ? 1 : 0;
  return { x: [age, income, loan, dti, history, late, employment, score], approved };
}

/**
 * The hidden lending rule: linear in the features plus a loan-by-debt interaction (a large
 * loan hurts more when debt is already high) and Gaussian noise, so no model can be perfect.
 */
function latentScore(
  a: { score: number; income: number; loan: number; dti: number; late: number; employment: number; history: number },
  noise: number,
): number {
  return (
    -1.2 +
    0.012 * (a.score - 650) +
    0.015 * (a.income - 60) -
    0.004 * (a.loan - 80) -
    0.05 * (a.dti - 30) -
    0.35 * a.late +
    0.03 * a.employment +
    0.02 * a.history -
    0.00005 * (a.loan - 80) * (a.dti - 30) +
    0.6 * noise
  );
}

interface Standardizer {
  mean: number[];
  std: number[];
}

/** Mean and population std per feature, from the training rows only (the test split stays unseen). */
function fitStandardizer(rows: number[][]): Standardizer {
  const n = rows.length;
  const mean = FEATURES.map((_, j) => rows.reduce((a, x) => a + x[j], 0) / n);
  const std = FEATURES.map((_, j) => Math.sqrt(rows.reduce((a, x) => a + (x[j] - mean[j]) ** 2, 0) / n));
  return { mean, std };
}

function standardize(s: Standardizer, x: number[]): Float64Array {
  return Float64Array.from(x, (v, j) => (v - s.mean[j]) / s.std[j]);
}

/** Weights are row-major [out, in], the layout of an ONNX Gemm with transB=1 (PyTorch's Linear). */
interface Params {
  W1: Float64Array;
  b1: Float64Array;
  W2: Float64Array;
  b2: Float64Array;
  W3: Float64Array;
  b3: Float64Array;
}
const PARAM_KEYS = ['W1', 'b1', 'W2', 'b2', 'W3', 'b3'] as const;

function zerosLike(p: Params): Params {
  return Object.fromEntries(PARAM_KEYS.map((k) => [k, new Float64Array(p[k].length)])) as unknown as Params;
}

/** He initialisation (std sqrt(2/fan_in)) keeps ReLU activations from dying or exploding at the start. */
function initParams(rand: Rand): Params {
  const [n0, n1, n2, n3] = LAYER_SIZES;
  const he = (fanIn: number, fanOut: number) => Float64Array.from({ length: fanIn * fanOut }, () => normal(rand) * Math.sqrt(2 / fanIn));
  return { W1: he(n0, n1), b1: new Float64Array(n1), W2: he(n1, n2), b2: new Float64Array(n2), W3: he(n2, n3), b3: new Float64Array(n3) };
}

/** y = W x + b for row-major W [out, in]. */
function dense(W: Float64Array, b: Float64Array, x: Float64Array): Float64Array {
  const inp = x.length;
  const y = Float64Array.from(b);
  for (let o = 0; o < b.length; o++) for (let i = 0; i < inp; i++) y[o] += W[o * inp + i] * x[i];
  return y;
}

const relu = (z: Float64Array) => z.map((v) => Math.max(0, v));
const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/** Activations of one row; backprop needs the pre-activations too. */
interface Trace {
  z1: Float64Array;
  a1: Float64Array;
  z2: Float64Array;
  a2: Float64Array;
  probability: number;
}

function forward(p: Params, x: Float64Array): Trace {
  const z1 = dense(p.W1, p.b1, x);
  const a1 = relu(z1);
  const z2 = dense(p.W2, p.b2, a1);
  const a2 = relu(z2);
  return { z1, a1, z2, a2, probability: sigmoid(dense(p.W3, p.b3, a2)[0]) };
}

/** Adds to `g` the gradient of binary cross-entropy for one row (sigmoid + BCE: dL/dlogit = p - y). */
function accumulateGradient(p: Params, g: Params, x: Float64Array, y: number): void {
  const [n0, n1, n2] = LAYER_SIZES;
  const f = forward(p, x);
  const d3 = f.probability - y;
  g.b3[0] += d3;
  for (let i = 0; i < n2; i++) g.W3[i] += d3 * f.a2[i];
  const d2 = f.z2.map((z, i) => (z > 0 ? d3 * p.W3[i] : 0));
  for (let o = 0; o < n2; o++) {
    g.b2[o] += d2[o];
    for (let i = 0; i < n1; i++) g.W2[o * n1 + i] += d2[o] * f.a1[i];
  }
  const d1 = f.z1.map((z, i) => {
    if (z <= 0) return 0;
    let s = 0;
    for (let o = 0; o < n2; o++) s += d2[o] * p.W2[o * n1 + i];
    return s;
  });
  for (let o = 0; o < n1; o++) {
    g.b1[o] += d1[o];
    for (let i = 0; i < n0; i++) g.W1[o * n0 + i] += d1[o] * x[i];
  }
}

/** Adam state: first and second moments per parameter, and the step count for bias correction. */
interface AdamState {
  m: Params;
  v: Params;
  step: number;
}

/** One Adam update from a batch's summed gradient; Adam copes with the features' leftover scale differences. */
function adamStep(p: Params, g: Params, batchSize: number, s: AdamState): void {
  s.step++;
  const { lr, beta1, beta2, gain1, gain2, eps } = ADAM;
  for (const k of PARAM_KEYS) {
    const [pk, gk, mk, vk] = [p[k], g[k], s.m[k], s.v[k]];
    for (let i = 0; i < pk.length; i++) {
      const gi = gk[i] / batchSize;
      mk[i] = beta1 * mk[i] + gain1 * gi;
      vk[i] = beta2 * vk[i] + gain2 * gi * gi;
      pk[i] -= (lr * (mk[i] / (1 - beta1 ** s.step))) / (Math.sqrt(vk[i] / (1 - beta2 ** s.step)) + eps);
    }
  }
}

/** In-place Fisher-Yates, drawing from the shared generator so epochs differ but runs do not. */
function shuffle(order: number[], rand: Rand): void {
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
}

/** Mini-batch Adam on binary cross-entropy for a fixed number of epochs (no early stopping: determinism). */
function train(p: Params, xs: Float64Array[], ys: number[], rand: Rand): void {
  const adam: AdamState = { m: zerosLike(p), v: zerosLike(p), step: 0 };
  const order = xs.map((_, i) => i);
  for (let epoch = 0; epoch < EPOCHS; epoch++) {
    shuffle(order, rand);
    for (let start = 0; start < order.length; start += BATCH) {
      const batch = order.slice(start, start + BATCH);
      const g = zerosLike(p);
      for (const idx of batch) accumulateGradient(p, g, xs[idx], ys[idx]);
      adamStep(p, g, batch.length, adam);
    }
  }
}

/** Share of rows where probability >= 0.5 agrees with the label (the circuit's decision rule). */
function accuracy(p: Params, xs: Float64Array[], ys: number[]): number {
  let correct = 0;
  for (let i = 0; i < xs.length; i++) correct += (forward(p, xs[i]).probability >= 0.5 ? 1 : 0) === ys[i] ? 1 : 0;
  return correct / xs.length;
}

function valueInfo(name: string, dims: (number | string)[]) {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  });
}

/** float32 little-endian raw_data: what PyTorch writes, and what every ONNX reader accepts. */
function floatInitializer(name: string, dims: number[], data: ArrayLike<number>) {
  const bytes = new Uint8Array(Float32Array.from(data).buffer);
  return onnx.TensorProto.create({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: bytes });
}

function node(opType: string, name: string, input: string[], output: string[], attrs: Record<string, number> = {}) {
  const attribute = Object.entries(attrs).map(([key, i]) => ({ name: key, type: onnx.AttributeProto.AttributeType.INT, i }));
  return onnx.NodeProto.create({ name, opType, input, output, domain: '', attribute });
}

/**
 * The exported graph keeps the standardization as explicit Sub/Div nodes and the inputs as
 * eight named [batch, 1] tensors, so callers send features in natural units by name; zkinfer
 * folds Sub/Div into the first Gemm on import.
 */
function buildOnnx(p: Params, s: Standardizer): Uint8Array {
  const [n0, n1, n2, n3] = LAYER_SIZES;
  const nodes = [
    node('Concat', 'features', [...FEATURES], ['x'], { axis: 1 }),
    node('Sub', 'center', ['x', 'feature_mean'], ['xc']),
    node('Div', 'scale', ['xc', 'feature_std'], ['xs']),
    node('Gemm', 'fc1', ['xs', 'fc1.weight', 'fc1.bias'], ['h1'], { transB: 1 }),
    node('Relu', 'relu1', ['h1'], ['a1']),
    node('Gemm', 'fc2', ['a1', 'fc2.weight', 'fc2.bias'], ['h2'], { transB: 1 }),
    node('Relu', 'relu2', ['h2'], ['a2']),
    node('Gemm', 'fc3', ['a2', 'fc3.weight', 'fc3.bias'], ['logit'], { transB: 1 }),
    node('Sigmoid', 'probability', ['logit'], ['approval_probability']),
  ];
  const initializers = [
    floatInitializer('feature_mean', [n0], s.mean),
    floatInitializer('feature_std', [n0], s.std),
    floatInitializer('fc1.weight', [n1, n0], p.W1),
    floatInitializer('fc1.bias', [n1], p.b1),
    floatInitializer('fc2.weight', [n2, n1], p.W2),
    floatInitializer('fc2.bias', [n2], p.b2),
    floatInitializer('fc3.weight', [n3, n2], p.W3),
    floatInitializer('fc3.bias', [n3], p.b3),
  ];
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'zkinfer-train',
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'graph',
      input: FEATURES.map((f) => valueInfo(f, ['batch', 1])),
      output: [valueInfo('approval_probability', ['batch', 1])],
      initializer: initializers,
      node: nodes,
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Runs the exported file one applicant at a time, fed the way a client would: one named scalar per feature. */
async function ortRunner(modelFile: string): Promise<(x: number[]) => Promise<number>> {
  const session = await ort.InferenceSession.create(modelFile);
  return async (x) => {
    const feeds = Object.fromEntries(FEATURES.map((f, j) => [f, new ort.Tensor('float32', Float32Array.of(x[j]), [1, 1])]));
    const out = await session.run(feeds);
    return (out.approval_probability.data as Float32Array)[0];
  };
}

/** Largest |onnxruntime - training forward pass| over the given rows: catches layout or transpose mistakes in the export. */
async function maxOrtDiff(run: (x: number[]) => Promise<number>, expected: (i: number) => number, rows: number[][]): Promise<number> {
  let maxDiff = 0;
  for (let i = 0; i < rows.length; i++) maxDiff = Math.max(maxDiff, Math.abs((await run(rows[i])) - expected(i)));
  return maxDiff;
}

const writeJson = (file: string, value: unknown, indent?: number) => writeFile(path.join(OUT_DIR, file), JSON.stringify(value, null, indent) + '\n');

/** The example inputs, and onnxruntime's probabilities for them, taken from the test split (never trained on). */
async function writeExamples(run: (x: number[]) => Promise<number>, sample: number[][], acc: { train: number; test: number }): Promise<number[]> {
  const probabilities: number[] = [];
  for (const x of sample) probabilities.push(await run(x));
  await writeJson('applicant.json', Object.fromEntries(FEATURES.map((f, j) => [f, sample[0][j]])), 2);
  await writeJson('applicants.json', { input_data: sample });
  await writeJson('expected.json', { applicant: probabilities[0], applicants: probabilities, testAccuracy: acc.test, trainAccuracy: acc.train }, 2);
  return probabilities;
}

/** Held-out rows with their labels as CSV (header: the graph input names, then `approved`): what `zkinfer release --test-set` reads. */
async function writeTestSet(rows: number[][], labels: number[]): Promise<void> {
  const lines = [[...FEATURES, 'approved'].join(','), ...rows.map((x, i) => [...x, labels[i]].join(','))];
  await writeFile(path.join(OUT_DIR, 'test-set.csv'), lines.join('\n') + '\n');
}

const TEST_SET_ROWS = 200;

const percent = (v: number) => `${(v * 100).toFixed(1)}%`;

async function main(): Promise<void> {
  // One generator for data, initialisation and shuffling, in this order: reordering changes the model.
  const rand = mulberry32(SEED);
  const data = Array.from({ length: APPLICANTS }, () => syntheticApplicant(rand));
  const raw = data.map((r) => r.x);
  const labels = data.map((r) => r.approved);
  const standardizer = fitStandardizer(raw.slice(0, TRAIN_ROWS));
  const xs = raw.map((x) => standardize(standardizer, x));

  const params = initParams(rand);
  train(params, xs.slice(0, TRAIN_ROWS), labels.slice(0, TRAIN_ROWS), rand);
  const acc = {
    train: accuracy(params, xs.slice(0, TRAIN_ROWS), labels.slice(0, TRAIN_ROWS)),
    test: accuracy(params, xs.slice(TRAIN_ROWS), labels.slice(TRAIN_ROWS)),
  };
  const approvedShare = labels.reduce<number>((a, b) => a + b, 0) / labels.length;
  console.log(`approved ${percent(approvedShare)}, train accuracy ${percent(acc.train)}, test accuracy ${percent(acc.test)}`);

  await mkdir(OUT_DIR, { recursive: true });
  const modelFile = path.join(OUT_DIR, 'loan-model.onnx');
  await writeFile(modelFile, buildOnnx(params, standardizer));

  const run = await ortRunner(modelFile);
  const checkRows = raw.slice(TRAIN_ROWS, TRAIN_ROWS + ORT_CHECK_ROWS);
  const maxDiff = await maxOrtDiff(run, (i) => forward(params, xs[TRAIN_ROWS + i]).probability, checkRows);
  console.log(`onnxruntime vs training forward pass on ${ORT_CHECK_ROWS} test rows: max abs diff ${maxDiff.toExponential(2)}`);
  if (!(maxDiff < ORT_TOLERANCE)) {
    console.error(`exported model does not match the trained one (max abs diff >= ${ORT_TOLERANCE})`);
    process.exit(1);
  }

  const probabilities = await writeExamples(run, raw.slice(TRAIN_ROWS, TRAIN_ROWS + EXAMPLE_ROWS), acc);
  await writeTestSet(raw.slice(TRAIN_ROWS, TRAIN_ROWS + TEST_SET_ROWS), labels.slice(TRAIN_ROWS, TRAIN_ROWS + TEST_SET_ROWS));
  console.log(`wrote ${path.relative(process.cwd(), OUT_DIR)}: applicant approval probability ${probabilities[0].toFixed(4)}`);
}

await main();
