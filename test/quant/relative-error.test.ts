// Relative error on small outputs: the fidelity report warns above a threshold (1% by
// default) and suggests settings it has tried through the same integer reference. The
// models are built here in the layout of EZKL's 1l_div (x / 10, one input) and
// 1l_tiny_div (x / 10000, eight 0/1 inputs), as PyTorch exports them: a Div by a constant.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildOnnx, loadModel, parseInputRows } from '../../src/model/index.ts';
import { SHARED_FIXTURES } from '../helpers/paths.ts';
import { compileModel } from '../../src/pipeline/index.ts';
import { candidateSettings, DEFAULT_SETTINGS, resolveSettings } from '../../src/quant/index.ts';

function divModel(size: number, divisor: number): Uint8Array {
  return buildOnnx({
    inputs: [{ name: 'input', dims: [1, size] }],
    output: { name: 'output', dims: [1, size] },
    initializers: [{ name: 'd', dims: [], data: [divisor] }],
    nodes: [{ op: 'Div', inputs: ['input', 'd'], outputs: ['output'] }],
  });
}

let div: string;
let tinyDiv: string;
beforeAll(async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'zkinfer-relerr-'));
  div = path.join(dir, 'div.onnx');
  tinyDiv = path.join(dir, 'tiny-div.onnx');
  await writeFile(div, divModel(1, 10));
  await writeFile(tinyDiv, divModel(8, 10_000));
});

describe('relative error warnings with computed suggestions', () => {
  it('warns for x / 10 at the default scale, and the suggested settings remove the warning', async () => {
    const inputs = [[0.053012341260910034]];
    const m = await compileModel(div, { inputs });
    const f = m.fidelity!;
    // round(0.053 * 2^10) = 54, round(0.1 * 2^10) = 102: 54 * 102 / 2^20 = 0.00525 against 0.0053, about 1%.
    expect(f.relativeError!).toBeGreaterThan(0.01);
    expect(f.maxRelativeError).toBe(0.01);
    expect(f.warnings.join('\n')).toMatch(/relative error is .*% of the largest output.*above the 1% threshold: --scale \d+ --bits \d+ brings it to/);
    const st = f.suggestion!.settings!;
    expect(st.scaleBits).toBeGreaterThan(DEFAULT_SETTINGS.scaleBits);
    // The activation width is kept: every value that fits now still fits.
    expect(st.bits - st.scaleBits).toBe(DEFAULT_SETTINGS.bits - DEFAULT_SETTINGS.scaleBits);
    const fixed = await compileModel(div, { inputs, settings: st, fidelity: true });
    expect(fixed.fidelity!.relativeError!).toBeLessThanOrEqual(0.01);
    expect(fixed.fidelity!.relativeError).toBeCloseTo(f.suggestion!.relativeError!, 12);
    expect(fixed.fidelity!.warnings).toEqual([]);
    // The smallest: the scale just below the suggested one still has the error above 1%.
    const below = await compileModel(div, { inputs, settings: { scaleBits: st.scaleBits - 1, bits: st.bits - 1 } });
    expect(below.fidelity!.relativeError!).toBeGreaterThan(0.01);
  });

  it('the threshold is settable: 10% accepts what 1% warns about', async () => {
    const inputs = [[0.053012341260910034], [0.7], [-0.31]];
    const loose = await compileModel(div, { inputs, maxRelativeError: 0.1 });
    expect(loose.fidelity!.warnings).toEqual([]);
    await expect(compileModel(div, { inputs, maxRelativeError: 0 })).rejects.toThrow(/fraction between 0 and 1/);
  });

  it('x / 10000 on 0/1 inputs: all zero at the default scale; the suggestion is found and works', async () => {
    const inputs = [
      [1, 0, 0, 1, 0, 1, 0, 1],
      [0, 1, 1, 0, 1, 1, 1, 0],
    ];
    const m = await compileModel(tinyDiv, { inputs });
    const f = m.fidelity!;
    expect(f.warnings.join('\n')).toMatch(/every quantized output is 0/);
    expect(f.relativeError).toBe(1);
    const st = f.suggestion!.settings!;
    const fixed = await compileModel(tinyDiv, { inputs, settings: st });
    expect(fixed.fidelity!.warnings).toEqual([]);
    expect(fixed.fidelity!.relativeError!).toBeLessThanOrEqual(0.01);
  });

  it('says so when no setting within the limits brings the error under', async () => {
    const inputs = [[1, 0, 0, 1, 0, 1, 0, 1]];
    // 496 constraints at the default settings; scale 2^11 with 33 bits needs 504.
    const m = await compileModel(tinyDiv, { inputs, limits: { maxConstraints: 500 } });
    const f = m.fidelity!;
    expect(f.suggestion).toMatchObject({ settings: null, tried: 0 });
    expect(f.warnings.join('\n')).toMatch(/no setting within the limits brings it under: scale 2\^11 with 33 bits is refused \(.*maxConstraints/);
    // A threshold no fixed point reaches: every scale is tried, and the best one is named.
    const strict = await compileModel(div, { inputs: [[0.053012341260910034]], maxRelativeError: 1e-12 });
    expect(strict.fidelity!.suggestion).toMatchObject({ settings: null, tried: 22 });
    expect(strict.fidelity!.warnings.join('\n')).toMatch(/no scale up to 2\^32 \(54 bits\) brings it under; the best, scale 2\^\d+, reaches/);
  });

  it('--scale given alone keeps the default activation width, so an input of 1.0 still fits', async () => {
    expect(resolveSettings({ scaleBits: 16 })).toEqual({ scaleBits: 16, bits: 38 });
    expect(resolveSettings({ scaleBits: 16, bits: 40 })).toEqual({ scaleBits: 16, bits: 40 });
    expect(resolveSettings({})).toEqual(DEFAULT_SETTINGS);
    const m = await compileModel(tinyDiv, { inputs: [[1, 0, 0, 1, 0, 1, 0, 1]], settings: { scaleBits: 16 } });
    expect(m.fidelity).toMatchObject({ outOfRange: 0, compared: 1 });
  });

  it('candidates widen the accumulator with the scale', () => {
    expect(candidateSettings({ scaleBits: 30, bits: 52 })).toEqual([
      { scaleBits: 31, bits: 53 },
      { scaleBits: 32, bits: 54 },
    ]);
  });
});

describe('the service threshold', () => {
  it("ZKINFER_MAX_RELATIVE_ERROR sets the REST compiles' threshold, a fraction between 0 and 1", async () => {
    const { loadConfig } = await import('../../src/service/config.ts');
    expect(loadConfig({}).maxRelativeError).toBe(0.01);
    expect(loadConfig({ ZKINFER_MAX_RELATIVE_ERROR: '0.05' }).maxRelativeError).toBe(0.05);
    expect(() => loadConfig({ ZKINFER_MAX_RELATIVE_ERROR: '5' })).toThrow(/ZKINFER_MAX_RELATIVE_ERROR must be a fraction between 0 and 1/);
  });
});

describe('the settings search keeps the per-feature ranges', () => {
  it('a stored input quantization, moved to other settings, is what the same calibration gives there', async () => {
    const { inputQuantAt, inputQuantOf } = await import('../../src/pipeline/index.ts');
    const { LOAN_MODEL } = await import('../helpers/paths.ts');
    const { ir } = await loadModel(LOAN_MODEL);
    const calibration = [Float64Array.from({ length: ir.inputSize }, (_, i) => i * 1000), Float64Array.from({ length: ir.inputSize }, (_, i) => -i)];
    const from = DEFAULT_SETTINGS;
    const to = { scaleBits: 14, bits: 36 };
    const stored = inputQuantOf(ir, from, { calibration });
    expect(inputQuantAt(ir, stored, from, to)).toEqual(inputQuantOf(ir, to, { calibration }));
    // Declared for one input only: the others keep the default scale and width at the new settings.
    const declared = { inputRanges: { [ir.inputs[0].name]: [0, 100] as [number, number] } };
    expect(inputQuantAt(ir, inputQuantOf(ir, from, declared), from, to)).toEqual(inputQuantOf(ir, to, declared));
    expect(inputQuantAt(ir, null, from, to)).toBeNull();
  });
});

// EZKL's own export, when the third-party fixtures hold it (read in place, never copied).
const EZKL_DIV = path.join(SHARED_FIXTURES, 'ezkl', '1l_div', 'network.onnx');
describe.skipIf(!existsSync(EZKL_DIV))('ezkl/1l_div (third-party fixture)', () => {
  it('warns, and its suggested settings remove the warning', async () => {
    const rows = parseInputRows(JSON.parse(await readFile(path.join(path.dirname(EZKL_DIV), 'input.json'), 'utf8')), (await loadModel(EZKL_DIV)).ir);
    const m = await compileModel(EZKL_DIV, { inputs: rows });
    expect(m.fidelity!.warnings.join()).toMatch(/above the 1% threshold/);
    const fixed = await compileModel(EZKL_DIV, { inputs: rows, settings: m.fidelity!.suggestion!.settings! });
    expect(fixed.fidelity!.warnings).toEqual([]);
  });
});
