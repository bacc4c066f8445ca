// `zkinfer prove` checks the applicant's input before compiling: a typo in the input
// file of a new model costs nothing.
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.ts';
import { LOAN_MODEL } from '../helpers/paths.ts';

describe('prove checks the input first', () => {
  it('refuses a bad input (exit 2, naming the feature) before any compile', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-input-first-'));
    const artifacts = path.join(dir, 'artifacts');
    const input = path.join(dir, 'applicant.json');
    await writeFile(input, JSON.stringify({ age: 30 }));
    const r = await cli(['prove', LOAN_MODEL, input, '-o', path.join(dir, 'b.json')], { ...process.env, ZKINFER_ARTIFACTS: artifacts });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/INPUT_SHAPE.*missing feature "income"/);
    expect(r.stderr).not.toMatch(/compiling/);
    expect(existsSync(path.join(artifacts, 'circuits'))).toBe(false);
  });
});
