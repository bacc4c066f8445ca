import { copyFile, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readJsonFile } from '../../src/cli/options.ts';
import { cli } from '../helpers/cli.ts';
import { LOAN_APPLICANT, LOAN_MODEL } from '../helpers/paths.ts';

// Anything a terminal would interpret: C0 controls other than tab and newline, DEL, C1.
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

describe('JSON files named on the command line', () => {
  it('a binary file is named as such, not echoed', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-json-'));
    const model = path.join(dir, 'model-renamed.json');
    await copyFile(LOAN_MODEL, model);
    await expect(readJsonFile(model, 'input')).rejects.toMatchObject({
      code: 'INPUT_VALUE',
      field: 'input',
      message: `${model} is not a JSON file (it looks binary)`,
    });
    const latin1 = path.join(dir, 'latin1.json');
    await writeFile(latin1, Buffer.from([0x7b, 0x22, 0xe9, 0x22, 0x3a, 0x31, 0x7d])); // {"é":1} in Latin-1: not UTF-8
    await expect(readJsonFile(latin1, 'input')).rejects.toThrow(/it looks binary/);
  });

  it('quotes broken JSON printably', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-json-'));
    const file = path.join(dir, 'broken.json');
    await writeFile(file, '{"a": 1,\r\u000b oops}');
    const err = await readJsonFile(file, 'input').catch((e: Error) => e);
    expect(err).toMatchObject({ code: 'INPUT_VALUE', field: 'input' });
    expect((err as Error).message).toMatch(/is not valid JSON/);
    expect((err as Error).message).not.toMatch(UNPRINTABLE);
    expect(await readJsonFile(LOAN_APPLICANT, 'input')).toMatchObject({});
  });

  it('prove with its arguments swapped says so, exit 2, nothing unprintable', async () => {
    const r = await cli(['prove', LOAN_APPLICANT, LOAN_MODEL, '-o', path.join(tmpdir(), 'never-written.json')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/looks like the model, in the input's place: the order is prove <model.onnx> <input.json>/);
    expect(r.stderr).not.toMatch(UNPRINTABLE);
  });

  it('verify on a model file says it is not JSON, exit 2', async () => {
    const r = await cli(['verify', LOAN_MODEL]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/loan-model\.onnx is not a JSON file \(it looks binary\)/);
    expect(r.stderr).not.toMatch(UNPRINTABLE);
  });
});
