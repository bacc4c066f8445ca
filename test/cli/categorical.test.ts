// A scikit-learn pipeline with categorical columns through the CLI: the applicant's
// categories as strings in input JSON, calibration rows as CSV with category cells and
// empty (missing) cells; an unknown category is exit 2 naming the column, before any
// compile, without the value.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/model/index.ts';
import { readTestSet } from '../../src/release/test-set.ts';
import { cli } from '../helpers/cli.ts';
import { REPO } from '../helpers/paths.ts';

const DIR = path.join(REPO, 'test', 'fixtures', 'models', 'sklearn');
const MODEL = path.join(DIR, 'credit_categorical.onnx');
const COLUMNS = ['income', 'debt', 'age', 'home_ownership', 'purpose', 'term'];

describe('categorical columns on the CLI', () => {
  it('an unknown category is refused (exit 2) naming the column, before any compile', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-cat-'));
    const input = path.join(dir, 'applicant.json');
    await writeFile(input, JSON.stringify({ income: 52000, debt: 9000, age: 41, home_ownership: 'HOUSEBOAT-4471', purpose: 'car', term: 36 }));
    const r = await cli(['prove', MODEL, input, '-o', path.join(dir, 'b.json')], { ...process.env, ZKINFER_ARTIFACTS: path.join(dir, 'artifacts') });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/INPUT_VALUE.*home_ownership.*not one of the 3 categories/);
    expect(r.stderr + r.stdout).not.toMatch(/HOUSEBOAT|4471/);
    expect(r.stderr).not.toMatch(/compiling/);
  });

  it('proves and verifies an applicant given with category strings, calibrated on a CSV with categories', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-cat-'));
    const { rows } = JSON.parse(await readFile(path.join(DIR, 'credit_categorical.inputs.json'), 'utf8')) as { rows: (string | number)[][] };
    const csv = path.join(dir, 'calibration.csv');
    await writeFile(csv, [COLUMNS.join(','), ...rows.map((r) => r.join(','))].join('\n') + '\n');
    const input = path.join(dir, 'applicant.json');
    await writeFile(input, JSON.stringify(Object.fromEntries(COLUMNS.map((c, i) => [c, rows[5][i]]))));
    const env = { ...process.env, ZKINFER_ARTIFACTS: path.join(dir, 'artifacts') };
    const bundle = path.join(dir, 'bundle.json');
    const r = await cli(['prove', MODEL, input, '-o', bundle, '--calibration', csv, '--scale', '12'], env);
    expect(r.code, r.stderr).toBe(0);
    const b = JSON.parse(await readFile(bundle, 'utf8'));
    expect(b.model.inputs[3]).toEqual({ name: 'home_ownership', size: 3, categories: [['MORTGAGE', 'OWN', 'RENT']], unknownCategory: 'refused' });
    const v = await cli(['verify', bundle, '--receipt', path.join(dir, 'bundle.receipt.json')], env);
    expect(v.code, v.stdout + v.stderr).toBe(0);
  });

  it('a release test set in CSV takes category cells and empty (missing) cells', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-cat-'));
    const { ir } = await loadModel(MODEL);
    const csv = path.join(dir, 'test.csv');
    await writeFile(csv, `${COLUMNS.join(',')},approved\n52000,9000,41,OWN,car,60,1\n`);
    const t = await readTestSet(csv, ir, 'approved');
    expect(Array.from(t.rows[0])).toEqual([52000, 9000, 41, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1]);
    expect(t.given[0]).toEqual({ income: 52000, debt: 9000, age: 41, home_ownership: 'OWN', purpose: 'car', term: '60' });
    const imp = (await loadModel(path.join(DIR, 'credit_imputer.onnx'))).ir;
    await writeFile(csv, 'input[0],input[1],input[2],input[3]\n50000,,30,2\n');
    const m = await readTestSet(csv, imp);
    expect(m.rows[0][1]).toBe(imp.inputs[0].missing![1]);
    await writeFile(csv, `${COLUMNS.join(',')}\n52000,9000,41,CASTLE,car,60\n`);
    await expect(readTestSet(csv, ir)).rejects.toMatchObject({ code: 'INPUT_VALUE', field: 'home_ownership', message: expect.not.stringMatching(/CASTLE/) });
  });
});
