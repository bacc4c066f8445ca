// `zkinfer audit`: a regulator holding the published ONNX, key, zkey and ptau checks that
// the key encodes the model, on a machine (here: an artifacts folder) of its own.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileModel, proveModel, setupModel } from '../../src/pipeline/index.ts';
import { generateDevPtau } from '../../src/prover/dev-ptau.ts';
import type { CircuitSetup } from '../../src/prover/setup.ts';
import { cli } from '../helpers/cli.ts';
import { LOAN_APPLICANT, LOAN_MODEL, REPO } from '../helpers/paths.ts';

describe('zkinfer audit', () => {
  let loan: CircuitSetup & { r1cs: string };
  let other: CircuitSetup;
  let dir: string;
  let fresh: NodeJS.ProcessEnv;
  let bundleFile: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-audit-'));
    const m = await compileModel(LOAN_MODEL, { fidelity: false });
    loan = { ...(await setupModel(m)), r1cs: m.compiled.r1cs };
    // Another model: the same ONNX quantized at another scale is another circuit.
    other = await setupModel(await compileModel(LOAN_MODEL, { fidelity: false, settings: { scaleBits: 9 } }));
    // The auditor rebuilds everything in an artifacts folder of its own.
    bundleFile = path.join(dir, 'bundle.json');
    const applicant = JSON.parse(await readFile(LOAN_APPLICANT, 'utf8'));
    await writeFile(bundleFile, JSON.stringify((await proveModel(m, loan, applicant)).bundle));
    const edited = JSON.parse(await readFile(bundleFile, 'utf8'));
    edited.model.settings.bits = 14;
    await writeFile(path.join(dir, 'edited.json'), JSON.stringify(edited));
    fresh = { ...process.env, ZKINFER_ARTIFACTS: path.join(dir, 'auditor-artifacts') };
  });

  const audit = (args: string[]) => cli(['audit', LOAN_MODEL, ...args], fresh);
  // The loan model fits the bundled development ptau.
  const ptauOf = (s: CircuitSetup) => (s.provenance.ptau.name === 'zkinfer-dev-13' ? path.join(REPO, 'ptau', 'dev-13.ptau') : s.provenance.ptau.name);

  it('passes for the loan example, recompiled from scratch in another folder, and lists the contributions', async () => {
    const r = await audit(['--vkey', loan.vkeyFile, '--zkey', loan.zkey, '--ptau', ptauOf(loan), '--r1cs', loan.r1cs, '--bundle', bundleFile, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ ok: true, broken: null, vkeyHash: loan.provenance.vkeySha256 });
    expect(report.links.map((l: { name: string }) => l.name)).toEqual(['circuit', 'descriptor', 'r1cs', 'zkey', 'phase1', 'vkey']);
    // The same r1cs byte for byte: the circuit compiles deterministically.
    expect(report.r1csSha256).toBe(loan.provenance.r1csSha256);
    expect(report.contributions.map((c: { hash: string }) => c.hash)).toEqual(loan.provenance.phase2.map((p) => p.hash));
    expect(report.contributions.at(-1).beacon.iterationsExp).toBe(10);
    expect(report.phase1.kind).toBe('development');
    const text = await audit(['--vkey', loan.vkeyFile, '--zkey', loan.zkey, '--ptau', ptauOf(loan)]);
    expect(text.stdout).toMatch(/^KEY ENCODES THE MODEL/);
    expect(text.stdout).toMatch(/made by the proving service alone/);
  });

  it("fails for a bundle whose descriptor is not this model's, naming the field", async () => {
    // The genuine descriptor (here a genuine bundle's) fixes the compile; the edited bundle is compared with it.
    const r = await audit([
      '--vkey',
      loan.vkeyFile,
      '--zkey',
      loan.zkey,
      '--ptau',
      ptauOf(loan),
      '--descriptor',
      bundleFile,
      '--bundle',
      path.join(dir, 'edited.json'),
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/the descriptor link broke[\s\S]*the bundle's descriptor differs from this model.s at settings\.bits$/m);
    // Alone, the edited bundle's settings make another circuit: not the published key's.
    const alone = await audit([
      '--vkey',
      loan.vkeyFile,
      '--zkey',
      loan.zkey,
      '--ptau',
      ptauOf(loan),
      '--r1cs',
      loan.r1cs,
      '--bundle',
      path.join(dir, 'edited.json'),
    ]);
    expect(alone.code, alone.stderr).toBe(1);
    expect(alone.stdout).toMatch(/FAIL descriptor: the bundle's descriptor differs from this model.s at circuitHash/);
    expect(alone.stdout).toMatch(/FAIL r1cs/);
  });

  it("fails (exit 1) for another model's key, naming the vkey link", async () => {
    const r = await audit(['--vkey', other.vkeyFile, '--zkey', loan.zkey, '--ptau', ptauOf(loan)]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^KEY NOT SHOWN TO ENCODE THE MODEL: the vkey link broke/);
  });

  it('fails for a zkey made from another r1cs, naming the zkey link', async () => {
    const r = await audit(['--vkey', other.vkeyFile, '--zkey', other.zkey, '--ptau', ptauOf(loan)]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/the zkey link broke/);
  });

  it('fails for a circuit compiled with other settings', async () => {
    const r = await audit(['--scale', '9', '--vkey', loan.vkeyFile, '--zkey', loan.zkey, '--ptau', ptauOf(loan), '--r1cs', loan.r1cs]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/the r1cs link broke/);
    const noR1cs = await audit(['--scale', '9', '--vkey', loan.vkeyFile, '--zkey', loan.zkey, '--ptau', ptauOf(loan)]);
    expect(noR1cs.code).toBe(1);
    expect(noR1cs.stdout).toMatch(/the zkey link broke/);
  });

  it('fails for a ptau that is not the one the zkey was made on', async () => {
    const ptau = path.join(dir, 'another-11.ptau');
    // Development files of every size share one identity (a key chains to all of them):
    // another one needs other secrets.
    await generateDevPtau(11, ptau, undefined, { tau: '5', alpha: '7', beta: '11' });
    const r = await audit(['--vkey', loan.vkeyFile, '--zkey', loan.zkey, '--ptau', ptau]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/the zkey link broke/);
  });

  it('exits 2 on unusable input', async () => {
    const r = await audit(['--vkey', path.join(dir, 'missing.json'), '--zkey', loan.zkey, '--ptau', ptauOf(loan)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot read/);
  });
});
