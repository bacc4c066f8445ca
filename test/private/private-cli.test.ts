import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileModel, pickPtau, setupModel } from '../../src/pipeline/index.ts';
import { loadModel } from '../../src/model/index.ts';
import { cli } from '../helpers/cli.ts';
import { LOAN_APPLICANT, LOAN_MODEL } from '../helpers/paths.ts';
import { TEST_BLINDING } from './blinding.ts';

/** A copy of the loan model with one weight of its last layer moved by 0.5 (found by its float32 bytes). */
async function oneWeightChanged(dir: string): Promise<string> {
  const bytes = await readFile(LOAN_MODEL);
  const { ir } = await loadModel(LOAN_MODEL);
  const last = ir.layers.filter((l) => l.kind === 'dense').at(-1)!;
  const w = (last as { weights: Float64Array }).weights[0];
  const pattern = Buffer.alloc(4);
  pattern.writeFloatLE(w);
  const at = bytes.indexOf(pattern);
  expect(at).toBeGreaterThan(0);
  expect(bytes.indexOf(pattern, at + 1)).toBe(-1);
  const changed = Buffer.from(bytes);
  changed.writeFloatLE(w + 0.5, at);
  const file = path.join(dir, 'loan-changed.onnx');
  await writeFile(file, changed);
  return file;
}

describe('CLI: a private model from compile to audit under disclosure', () => {
  let dir: string;
  let blinding: string;
  let bundleFile: string;
  let files: { vkey: string; zkey: string; ptau: string };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-private-'));
    // The tests' shared blinding: the private circuit and its setup are cached across test files.
    blinding = path.join(dir, 'blinding.json');
    await writeFile(blinding, JSON.stringify({ format: 'zkinfer.blinding', blinding: TEST_BLINDING.toString() }));
    bundleFile = path.join(dir, 'bundle.json');
    const r = await cli(['prove', LOAN_MODEL, LOAN_APPLICANT, '--visibility', 'private', '--blinding', blinding, '-o', bundleFile]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('wrote a new blinding');
    // The same files the CLI used (compile and setup are cached by content).
    const m = await compileModel(LOAN_MODEL, { fidelity: false, visibility: 'private', blinding: TEST_BLINDING });
    const setup = await setupModel(m);
    const ptau = await pickPtau(m);
    files = { vkey: setup.vkeyFile, zkey: setup.zkey, ptau: ptau.file };
  });

  it('writes a fresh blinding file, readable by its owner only, when the one named does not exist; reuses one that does', async () => {
    const fresh = path.join(dir, 'fresh.json');
    const c = await cli(['compile', LOAN_MODEL, '--visibility', 'private', '--blinding', fresh, '--json']);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stderr).toContain(`wrote a new blinding value to ${fresh}`);
    expect((await stat(fresh)).mode & 0o777).toBe(0o600);
    const doc = JSON.parse(await readFile(fresh, 'utf8'));
    expect(doc).toMatchObject({ format: 'zkinfer.blinding', blinding: expect.stringMatching(/^\d{60,}$/) });
    // Another blinding: another model id.
    expect(JSON.parse(c.stdout).modelId).not.toBe(JSON.parse(await readFile(bundleFile, 'utf8')).model.id);
    const again = await cli(['compile', LOAN_MODEL, '--visibility', 'private', '--blinding', fresh, '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toContain('wrote a new blinding');
    expect(JSON.parse(again.stdout).modelId).toBe(JSON.parse(c.stdout).modelId);
  });

  it('verify says the model is private and names its parameter commitment', async () => {
    const r = await cli(['verify', bundleFile]);
    expect(r.code, r.stderr).toBe(0);
    const bundle = JSON.parse(await readFile(bundleFile, 'utf8'));
    expect(r.stdout).toContain('private model: its parameters are not published');
    expect(r.stdout).toContain(`${bundle.model.parameters.count} committed field elements`);
    expect(r.stdout).toContain(bundle.model.parameters.commitment);
  });

  it('audit --private with the file and its blinding: exit 0; one weight changed: exit 1 naming the commitment', { timeout: 1_200_000 }, async () => {
    const args = ['--vkey', files.vkey, '--zkey', files.zkey, '--ptau', files.ptau, '--bundle', bundleFile];
    const ok = await cli(['audit', '--private', LOAN_MODEL, '--blinding', blinding, ...args]);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);

    // Another blinding gives another commitment and model id (test/private/private-model.test.ts); here, another file.
    const changed = await oneWeightChanged(dir);
    const wrongFile = await cli(['audit', '--private', changed, '--blinding', blinding, ...args]);
    expect(wrongFile.code).toBe(1);
    expect(wrongFile.stdout).toMatch(/parameters\.commitment/);
    expect(wrongFile.stdout).toMatch(/do not hash to the descriptor's parameter commitment/);

    // A private model's audit needs the blinding: a usage error (exit 2), not a verdict.
    const none = await cli(['audit', LOAN_MODEL, ...args]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/--blinding/);
  });

  it('refuses --blinding without --visibility private, and private without --blinding', async () => {
    const a = await cli(['compile', LOAN_MODEL, '--blinding', blinding]);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/--blinding goes with --visibility private/);
    const b = await cli(['compile', LOAN_MODEL, '--visibility', 'private']);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/needs --blinding/);
  });
});
