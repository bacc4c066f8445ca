// Calibration margins: a few hundred rows rarely hold the population's largest value, so
// each calibrated range is widened past the data's tails (TAIL_MARGIN), and data piled up
// at a bound (capped, top-coded) are reported with the advice to declare the real range.
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { calibratedRanges, inputQuantFromRanges, TAIL_MARGIN } from '../../src/fixed/input-quant.ts';
import { buildOnnx, loadModel } from '../../src/model/index.ts';
import { compileModel, inputQuantOf } from '../../src/pipeline/index.ts';
import { DEFAULT_SETTINGS, quantizeInput } from '../../src/quant/index.ts';
import { formatCompileReport } from '../../src/cli/format.ts';
import { rng } from '../helpers/ir.ts';

/** income (dollars) and age -> a sigmoid score, as a bank's first dense layer reads raw units. */
function scoreModel(): Uint8Array {
  return buildOnnx({
    inputs: [
      { name: 'income', dims: [1, 1] },
      { name: 'age', dims: [1, 1] },
    ],
    output: { name: 'p', dims: [1, 1] },
    initializers: [
      { name: 'W', dims: [2, 1], data: [2e-5, -0.01] },
      { name: 'B', dims: [1], data: [-0.3] },
    ],
    nodes: [
      { op: 'Concat', inputs: ['income', 'age'], outputs: ['x'], attrs: { axis: 1 } },
      { op: 'Gemm', inputs: ['x', 'W', 'B'], outputs: ['z'] },
      { op: 'Sigmoid', inputs: ['z'], outputs: ['p'] },
    ],
  });
}

/** Seeded log-normal incomes (median 9,000, sigma 0.8: a long right tail) and ages 18 to 80. */
function applicants(n: number, seed: number): number[][] {
  const r = rng(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  return Array.from({ length: n }, () => [Math.round(9000 * Math.exp(0.8 * normal())), 18 + Math.floor(r() * 63)]);
}

let model: string;
beforeAll(async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'zkinfer-calib-'));
  model = path.join(dir, 'score.onnx');
  await writeFile(model, scoreModel());
});

describe('calibration margins', () => {
  it('widens each range by TAIL_MARGIN times its distance from the 90th / 10th percentile', () => {
    // 1..11: p90 = 10, p10 = 2; the range starts above 0 and is not widened below it.
    const rows = Array.from({ length: 11 }, (_, k) => [k + 1, -(k + 1), k % 2]);
    const [up, down, flag] = calibratedRanges(rows, 3);
    expect(up).toEqual({ observedLo: 1, observedHi: 11, lo: 0, hi: 11 + TAIL_MARGIN * 1 });
    expect(down).toEqual({ observedLo: -11, observedHi: -1, lo: -11 - TAIL_MARGIN * 1, hi: 0 });
    // A flag (two values) keeps its range.
    expect(flag).toEqual({ observedLo: 0, observedHi: 1, lo: 0, hi: 1 });
  });

  it('300 rows of a long-tailed income: the next 10,000 applicants fit, which the sample maximum alone refuses', async () => {
    const { ir } = await loadModel(model);
    const rows = applicants(300, 7);
    const population = applicants(10_000, 8);
    const sampleMax = Math.max(...rows.map((r) => r[0]));
    const outside = population.filter((a) => a[0] > sampleMax * 1.25);
    // The old rule (the sample's own range, 25% head-room in the width) leaves real applicants out.
    const old = inputQuantFromRanges([0, 18], [sampleMax, 80], DEFAULT_SETTINGS, (i) => ['income', 'age'][i]);
    const side = { settings: DEFAULT_SETTINGS, inputs: ir.inputs, inputSize: 2 };
    const refusedBefore = population.filter((a) => {
      try {
        quantizeInput({ ...side, inputQuant: old }, a);
        return false;
      } catch {
        return true;
      }
    }).length;
    expect(outside.length).toBeGreaterThan(0);
    expect(refusedBefore).toBeGreaterThan(0);
    const iq = inputQuantOf(ir, DEFAULT_SETTINGS, { calibration: rows })!;
    expect(iq.hi[0]).toBeGreaterThan(2 * sampleMax);
    for (const a of population) expect(() => quantizeInput({ ...side, inputQuant: iq }, a)).not.toThrow();
  });

  it('says when the data look truncated and asks for --input-range, in the compile output', async () => {
    // Incomes top-coded at 30,000 by whoever exported them: 8% of the rows sit exactly there.
    const rows = applicants(300, 9).map(([inc, age]) => [Math.min(inc, 30_000), age]);
    const capped = rows.filter((r) => r[0] === 30_000).length;
    expect(capped).toBeGreaterThanOrEqual(10);
    const m = await compileModel(model, { calibration: rows });
    const warning = m.fidelity!.warnings.find((w) => w.startsWith('calibration: income'));
    expect(warning).toMatch(new RegExp(`income: ${capped} of 300 calibration rows are at the largest value 30000: the data look truncated`));
    expect(warning).toMatch(/declare the real range with --input-range income=lo:hi/);
    // Ages (integers, a few rows each) are not flagged.
    expect(m.fidelity!.warnings.join()).not.toMatch(/age:/);
    const out = formatCompileReport(m);
    expect(out).toMatch(/per-feature inputs \(from 300 calibration rows, each range widened past the data's tails/);
    expect(out).toMatch(/income: observed \[\d+, 30000\] \(truncated at the max\?\), range \[0, [\d.]+\] -> scale/);
    expect(out).toMatch(/WARNING: calibration: income: .* --input-range income=lo:hi/);
    // Declared, the range is the user's and nothing is said.
    const declared = await compileModel(model, { calibration: rows, inputRanges: { income: [0, 250_000] } });
    expect(declared.fidelity!.warnings.join()).not.toMatch(/truncated/);
    expect(declared.quantized.inputQuant!.hi[0]).toBe(250_000);
    // A service compile: the quantization the upload fixed, the kept rows for the report, and its warnings in the upload's words.
    const { ir } = await loadModel(model);
    const { REST_FIDELITY_HINTS } = await import('../../src/queue/processors.ts');
    const stored = inputQuantOf(ir, DEFAULT_SETTINGS, { calibration: rows });
    const worker = await compileModel(model, { inputQuant: stored, calibration: rows, fidelityHints: REST_FIDELITY_HINTS });
    expect(worker.fidelity!.warnings.join()).toMatch(/income: .* the data look truncated .* declare the real range with an "inputRange" field income=lo:hi/);
    // Declared at upload: the stored range is the tenant's, and nothing is said about it.
    const storedDeclared = inputQuantOf(ir, DEFAULT_SETTINGS, { calibration: rows, inputRanges: { income: [0, 250_000] } });
    const worker2 = await compileModel(model, { inputQuant: storedDeclared, calibration: rows, fidelityHints: REST_FIDELITY_HINTS });
    expect(worker2.fidelity!.warnings.join()).not.toMatch(/truncated/);
  });

  it('a feature with many rows at its largest value but few distinct values is not truncated data', () => {
    // Late payments 0..4 with most rows at 4, or a score with 5 levels: discrete, not capped.
    const rows = Array.from({ length: 200 }, (_, k) => [k % 5 === 0 ? 3 : 4, [1, 2, 3, 4, 5][k % 5]]);
    expect(calibratedRanges(rows, 2).every((c) => c.truncated === undefined)).toBe(true);
  });
});
