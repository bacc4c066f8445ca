// Trains the bundled loan-decision example on a synthetic data set and exports it to ONNX.
//   npx tsx scripts/train-loan-model.ts
// Deterministic: a seeded generator, fixed epochs. Writes examples/loan/{loan-model.onnx,
// applicant.json, applicants.json, expected.json}. See examples/loan/README.md.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { buildOnnx } from '../src/model/build-onnx.ts';

const OUT = path.resolve(import.meta.dirname, '..', 'examples', 'loan');
export const FEATURES = ['age', 'income', 'loan_amount', 'debt_to_income', 'credit_history_years', 'late_payments', 'employment_years', 'credit_score'] as const;

/** mulberry32: small, seeded, good enough for synthetic data. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = rng(20261124);
const normal = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
const round1 = (v: number) => Math.round(v * 10) / 10;

/** One synthetic applicant and the latent rule's label (see the README for the rule). */
function applicant(): { x: number[]; y: number } {
  const age = Math.round(clamp(21 + rand() * 54, 21, 75));
  const employment = round1(clamp(rand() * (age - 18), 0, 40));
  const income = round1(clamp(Math.exp(3.6 + 0.5 * normal() + 0.01 * employment), 15, 250));
  const loan = round1(clamp(income * (0.3 + rand() * 2.2), 1, 500));
  const dti = round1(clamp(10 + 25 * rand() + 15 * normal() * 0.5, 0, 80));
  const history = round1(clamp((age - 18) * rand(), 0, 40));
  const late = Math.round(clamp(-Math.log(1 - rand()) * 1.2, 0, 12));
  const score = Math.round(clamp(600 + 6 * history - 25 * late - 1.5 * dti + 60 * normal(), 300, 850));
  const z =
    -1.2 + 0.012 * (score - 650) + 0.015 * (income - 60) - 0.004 * (loan - 80) - 0.05 * (dti - 30) - 0.35 * late +
    0.03 * employment + 0.02 * history - 0.00005 * (loan - 80) * (dti - 30) + 0.6 * normal();
  return { x: [age, income, loan, dti, history, late, employment, score], y: z > 0 ? 1 : 0 };
}

type Params = { W1: Float64Array; b1: Float64Array; W2: Float64Array; b2: Float64Array; W3: Float64Array; b3: Float64Array };
const SIZES = [8, 16, 8, 1];

function init(): Params {
  const layer = (i: number, o: number) => Float64Array.from({ length: i * o }, () => normal() * Math.sqrt(2 / i));
  return { W1: layer(8, 16), b1: new Float64Array(16), W2: layer(16, 8), b2: new Float64Array(8), W3: layer(8, 1), b3: new Float64Array(1) };
}

function dense(W: Float64Array, b: Float64Array, x: Float64Array, out: number): Float64Array {
  const inp = x.length;
  const y = Float64Array.from(b);
  for (let o = 0; o < out; o++) for (let i = 0; i < inp; i++) y[o] += W[o * inp + i] * x[i];
  return y;
}

function forward(p: Params, x: Float64Array) {
  const z1 = dense(p.W1, p.b1, x, 16);
  const a1 = z1.map((v) => Math.max(0, v));
  const z2 = dense(p.W2, p.b2, a1, 8);
  const a2 = z2.map((v) => Math.max(0, v));
  const z3 = dense(p.W3, p.b3, a2, 1)[0];
  return { z1, a1, z2, a2, z3, p: 1 / (1 + Math.exp(-z3)) };
}

/** Mini-batch Adam on binary cross-entropy. */
function train(p: Params, xs: Float64Array[], ys: number[], epochs: number): void {
  const keys = Object.keys(p) as (keyof Params)[];
  const m = Object.fromEntries(keys.map((k) => [k, new Float64Array(p[k].length)])) as Params;
  const v = Object.fromEntries(keys.map((k) => [k, new Float64Array(p[k].length)])) as Params;
  let step = 0;
  const order = xs.map((_, i) => i);
  for (let e = 0; e < epochs; e++) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (let start = 0; start < order.length; start += 32) {
      const g = Object.fromEntries(keys.map((k) => [k, new Float64Array(p[k].length)])) as Params;
      const batch = order.slice(start, start + 32);
      for (const idx of batch) {
        const x = xs[idx];
        const f = forward(p, x);
        const d3 = f.p - ys[idx];
        g.b3[0] += d3;
        for (let i = 0; i < 8; i++) g.W3[i] += d3 * f.a2[i];
        const d2 = f.z2.map((z, i) => (z > 0 ? d3 * p.W3[i] : 0));
        for (let o = 0; o < 8; o++) {
          g.b2[o] += d2[o];
          for (let i = 0; i < 16; i++) g.W2[o * 16 + i] += d2[o] * f.a1[i];
        }
        const d1 = f.z1.map((z, i) => {
          if (z <= 0) return 0;
          let s = 0;
          for (let o = 0; o < 8; o++) s += d2[o] * p.W2[o * 16 + i];
          return s;
        });
        for (let o = 0; o < 16; o++) {
          g.b1[o] += d1[o];
          for (let i = 0; i < 8; i++) g.W1[o * 8 + i] += d1[o] * x[i];
        }
      }
      step++;
      for (const k of keys) {
        for (let i = 0; i < p[k].length; i++) {
          const gi = g[k][i] / batch.length;
          m[k][i] = 0.9 * m[k][i] + 0.1 * gi;
          v[k][i] = 0.999 * v[k][i] + 0.001 * gi * gi;
          p[k][i] -= (0.003 * (m[k][i] / (1 - 0.9 ** step))) / (Math.sqrt(v[k][i] / (1 - 0.999 ** step)) + 1e-8);
        }
      }
    }
  }
}

const rows = Array.from({ length: 4000 }, applicant);
const split = 3200;
const raw = rows.map((r) => r.x);
const mean = FEATURES.map((_, j) => raw.slice(0, split).reduce((a, x) => a + x[j], 0) / split);
const std = FEATURES.map((_, j) => Math.sqrt(raw.slice(0, split).reduce((a, x) => a + (x[j] - mean[j]) ** 2, 0) / split));
const norm = raw.map((x) => Float64Array.from(x, (v, j) => (v - mean[j]) / std[j]));
const labels = rows.map((r) => r.y);

const params = init();
train(params, norm.slice(0, split), labels.slice(0, split), 40);
const accuracy = (from: number, to: number) => {
  let ok = 0;
  for (let i = from; i < to; i++) ok += (forward(params, norm[i]).p >= 0.5 ? 1 : 0) === labels[i] ? 1 : 0;
  return ok / (to - from);
};
const trainAcc = accuracy(0, split);
const testAcc = accuracy(split, rows.length);
console.log(`approved ${((labels.reduce((a, b) => a + b, 0) / labels.length) * 100).toFixed(1)}%, train accuracy ${(trainAcc * 100).toFixed(1)}%, test accuracy ${(testAcc * 100).toFixed(1)}%`);

const onnxBytes = buildOnnx({
  producer: 'zkinfer-train',
  inputs: FEATURES.map((name) => ({ name, dims: ['batch', 1] })),
  output: { name: 'approval_probability', dims: ['batch', 1] },
  initializers: [
    { name: 'feature_mean', dims: [8], data: mean },
    { name: 'feature_std', dims: [8], data: std },
    { name: 'fc1.weight', dims: [16, 8], data: params.W1 },
    { name: 'fc1.bias', dims: [16], data: params.b1 },
    { name: 'fc2.weight', dims: [8, 16], data: params.W2 },
    { name: 'fc2.bias', dims: [8], data: params.b2 },
    { name: 'fc3.weight', dims: [1, 8], data: params.W3 },
    { name: 'fc3.bias', dims: [1], data: params.b3 },
  ],
  nodes: [
    { op: 'Concat', name: 'features', inputs: [...FEATURES], outputs: ['x'], attrs: { axis: 1 } },
    { op: 'Sub', name: 'center', inputs: ['x', 'feature_mean'], outputs: ['xc'] },
    { op: 'Div', name: 'scale', inputs: ['xc', 'feature_std'], outputs: ['xs'] },
    { op: 'Gemm', name: 'fc1', inputs: ['xs', 'fc1.weight', 'fc1.bias'], outputs: ['h1'], attrs: { transB: 1 } },
    { op: 'Relu', name: 'relu1', inputs: ['h1'], outputs: ['a1'] },
    { op: 'Gemm', name: 'fc2', inputs: ['a1', 'fc2.weight', 'fc2.bias'], outputs: ['h2'], attrs: { transB: 1 } },
    { op: 'Relu', name: 'relu2', inputs: ['h2'], outputs: ['a2'] },
    { op: 'Gemm', name: 'fc3', inputs: ['a2', 'fc3.weight', 'fc3.bias'], outputs: ['logit'], attrs: { transB: 1 } },
    { op: 'Sigmoid', name: 'probability', inputs: ['logit'], outputs: ['approval_probability'] },
  ],
});
await mkdir(OUT, { recursive: true });
const modelFile = path.join(OUT, 'loan-model.onnx');
await writeFile(modelFile, onnxBytes);

// Check the exported file against the training code's own forward pass.
const session = await ort.InferenceSession.create(modelFile);
const runOrt = async (x: number[]) => {
  const feeds = Object.fromEntries(FEATURES.map((f, j) => [f, new ort.Tensor('float32', Float32Array.of(x[j]), [1, 1])]));
  return ((await session.run(feeds)).approval_probability.data as Float32Array)[0];
};
let maxDiff = 0;
for (let i = split; i < split + 100; i++) maxDiff = Math.max(maxDiff, Math.abs((await runOrt(raw[i])) - forward(params, norm[i]).p));
console.log(`onnxruntime vs training forward pass on 100 test rows: max abs diff ${maxDiff.toExponential(2)}`);
if (maxDiff > 1e-5) {
  console.error('exported model does not match the trained one');
  process.exit(1);
}

const sample = raw.slice(split, split + 20);
const first = Object.fromEntries(FEATURES.map((f, j) => [f, sample[0][j]]));
await writeFile(path.join(OUT, 'applicant.json'), JSON.stringify(first, null, 2) + '\n');
await writeFile(path.join(OUT, 'applicants.json'), JSON.stringify({ input_data: sample }) + '\n');
const probs = [];
for (const x of sample) probs.push(await runOrt(x));
await writeFile(
  path.join(OUT, 'expected.json'),
  JSON.stringify({ applicant: probs[0], applicants: probs, testAccuracy: testAcc, trainAccuracy: trainAcc }, null, 2) + '\n',
);
console.log(`wrote ${path.relative(process.cwd(), OUT)}: applicant approval probability ${probs[0].toFixed(4)}`);
