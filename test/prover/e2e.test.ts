import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { isZkinferError } from '../../src/core/errors.ts';
import { Prover } from '../../src/prover/index.ts';
import { inputCommitment } from '../../src/bundle/input-commitment.ts';
import { type ProofBundle, type Receipt } from '../../src/bundle/format.ts';
import { compileModel, type CompiledModel, proveModel, setupModel } from '../../src/pipeline/index.ts';
import { FIELD_ORDER, runReference } from '../../src/quant/index.ts';
import { parseInput } from '../../src/model/index.ts';
import { verifyBundle } from '../../src/verifier/index.ts';
import type { CircuitSetup } from '../../src/prover/setup.ts';
import { cli } from '../helpers/cli.ts';
import { LOAN_APPLICANT, LOAN_MODEL, REPO } from '../helpers/paths.ts';

const run = promisify(execFile);

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

describe('loan example: compile -> setup -> prove -> verify', () => {
  let m: CompiledModel;
  let setup: CircuitSetup;
  let bundle: ProofBundle;
  let receipt: Receipt;
  let applicant: Record<string, number>;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-e2e-'));
    applicant = JSON.parse(await readFile(LOAN_APPLICANT, 'utf8'));
    m = await compileModel(LOAN_MODEL, { fidelity: false });
    setup = await setupModel(m);
    const r = await proveModel(m, setup, applicant, { nonce: 42n });
    bundle = r.bundle;
    receipt = r.receipt!;
  });

  it('verifies, and its decoded outputs equal the integer reference', async () => {
    const v = await verifyBundle(bundle);
    expect(v).toMatchObject({ valid: true, reason: 'proof verifies' });
    const ref = runReference(m.quantized, parseInput(applicant, m.ir));
    expect(v.outputs?.integers).toEqual(ref.output.map(String));
    expect(v.outputs?.decision).toEqual(ref.decision.map(Number));
    expect(bundle.publicSignals.at(-1)).toBe('42');
    expect(bundle.setup.insecure).toBe(true);
    expect(bundle.signalNames).toEqual(['modelCommitment', 'inputCommitment', 'packedOutputs[0]', 'nonce']);
  });

  it('fails when any public signal changes', async () => {
    for (let i = 0; i < bundle.publicSignals.length; i++) {
      const b = clone(bundle);
      b.publicSignals[i] = ((BigInt(b.publicSignals[i]) + 1n) % FIELD_ORDER).toString();
      const v = await verifyBundle(b);
      expect(v.valid, `signal ${i}`).toBe(false);
    }
  });

  it('rejects a public signal plus r as non-canonical', async () => {
    for (let i = 0; i < bundle.publicSignals.length; i++) {
      const b = clone(bundle);
      b.publicSignals[i] = (BigInt(b.publicSignals[i]) + FIELD_ORDER).toString();
      const v = await verifyBundle(b);
      expect(v).toMatchObject({ valid: false });
      expect(v.reason).toMatch(/canonical/);
    }
  });

  it('treats non-decimal, negative or padded encodings as unusable input', async () => {
    for (const bad of ['0x2a', '-42', '042', '4.2', '']) {
      const b = clone(bundle);
      b.publicSignals[b.publicSignals.length - 1] = bad;
      await expect(verifyBundle(b)).rejects.toMatchObject({ code: 'BUNDLE_INVALID', field: `publicSignals.${b.publicSignals.length - 1}` });
    }
    const b = clone(bundle);
    (b.proof.pi_a as unknown[])[0] = 12;
    await expect(verifyBundle(b)).rejects.toMatchObject({ code: 'BUNDLE_INVALID', field: 'proof.pi_a.0' });
    await expect(verifyBundle('not a bundle')).rejects.toMatchObject({ code: 'BUNDLE_INVALID' });
    // A version 1 bundle (one public signal per output) is refused by name, not misread.
    await expect(verifyBundle({ ...clone(bundle), version: 1 })).rejects.toMatchObject({
      code: 'BUNDLE_INVALID',
      field: 'version',
      message: expect.stringMatching(/version 1 bundle/),
    });
  });

  it('refuses a verification key whose gamma equals delta', async () => {
    const vk = clone(bundle.verificationKey);
    vk.vk_delta_2 = vk.vk_gamma_2;
    expect(await verifyBundle(bundle, { vkey: vk })).toMatchObject({ valid: false, field: 'vkey.vk_delta_2', reason: expect.stringMatching(/gamma == delta/) });
    const b = clone(bundle);
    b.verificationKey = vk;
    expect(await verifyBundle(b)).toMatchObject({ valid: false, field: 'verificationKey.vk_delta_2', outputs: null, modelId: null });
  });

  it("is invalid under another model's key, and under a tampered proof", async () => {
    const other = await compileModel(LOAN_MODEL, { fidelity: false, settings: { scaleBits: 9 } });
    const otherSetup = await setupModel(other);
    const v = await verifyBundle(bundle, { vkey: otherSetup.vkey });
    expect(v.valid).toBe(false);
    // Even with the bundle's hash doctored to match, the pairing fails.
    const b = clone(bundle);
    b.vkeyHash = otherSetup.provenance.vkeySha256;
    expect((await verifyBundle(b, { vkey: otherSetup.vkey })).valid).toBe(false);
    const t = clone(bundle);
    t.proof.pi_c = clone(bundle.proof.pi_a);
    expect((await verifyBundle(t)).valid).toBe(false);
  });

  it('gives the applicant a receipt that recomputes the input commitment', async () => {
    expect(receipt.inputCommitment).toBe(bundle.inputCommitment);
    expect(bundle.publicSignals[1]).toBe(receipt.inputCommitment);
    const again = await inputCommitment(receipt.features.map(BigInt), BigInt(receipt.salt), receipt.width);
    expect(again.toString()).toBe(receipt.inputCommitment);
    const changed = receipt.features.map(BigInt);
    changed[0] += 1n;
    expect((await inputCommitment(changed, BigInt(receipt.salt), receipt.width)).toString()).not.toBe(receipt.inputCommitment);
  });

  it('refuses bad applicant input with a named error, before any witness', async () => {
    const cases: [unknown, string][] = [
      [{ ...applicant, age: undefined }, 'INPUT_SHAPE'],
      [{ ...applicant, favourite_colour: 3 }, 'INPUT_SHAPE'],
      [{ ...applicant, income: 'lots' }, 'INPUT_VALUE'],
      [{ ...applicant, loan_amount: 1e9 }, 'INPUT_RANGE'],
      [[1, 2, 3], 'INPUT_SHAPE'],
    ];
    for (const [input, code] of cases) {
      const err = await proveModel(m, setup, JSON.parse(JSON.stringify(input))).catch((e: unknown) => e);
      expect(isZkinferError(err), `${JSON.stringify(input)}: ${String(err)}`).toBe(true);
      expect((err as { code: string }).code).toBe(code);
    }
  });

  it('finds a corrupt zkey by its hash before proving', async () => {
    const dirCopy = await mkdtemp(path.join(tmpdir(), 'zkinfer-corrupt-'));
    const zkey = path.join(dirCopy, 'circuit.zkey');
    await copyFile(setup.zkey, zkey);
    const bytes = await readFile(zkey);
    bytes[bytes.length - 100] ^= 0xff;
    await writeFile(zkey, bytes);
    await expect(Prover.load(m.compiled, { ...setup, zkey })).rejects.toMatchObject({ code: 'ARTIFACT_CORRUPT', field: 'zkey' });
  });

  it('verifies from the CLI with exit codes 0 / 1 / 2, and with the plain snarkjs CLI', async () => {
    const good = path.join(dir, 'bundle.json');
    await writeFile(good, JSON.stringify(bundle));
    const ok = await cli(['verify', good]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^VALID/);

    const b = clone(bundle);
    b.publicSignals[2] = ((BigInt(b.publicSignals[2]) + 1n) % FIELD_ORDER).toString();
    const bad = path.join(dir, 'tampered.json');
    await writeFile(bad, JSON.stringify(b));
    const no = await cli(['verify', bad]);
    expect(no.code).toBe(1);
    expect(no.stdout).toMatch(/^INVALID: /);

    const receiptFile = path.join(dir, 'receipt.json');
    await writeFile(receiptFile, JSON.stringify(receipt));
    const withReceipt = await cli(['verify', good, '--receipt', receiptFile]);
    expect(withReceipt.code, withReceipt.stderr).toBe(0);
    expect(withReceipt.stdout).toMatch(/^APPLICANT'S DATA USED: /);
    const wrongFeature = { ...receipt, features: receipt.features.map((f, i) => (i === 0 ? String(BigInt(f) + 1n) : f)) };
    await writeFile(receiptFile, JSON.stringify(wrongFeature));
    const mismatch = await cli(['verify', good, '--receipt', receiptFile]);
    expect(mismatch.code).toBe(1);
    expect(mismatch.stdout).toMatch(/^APPLICANT'S DATA NOT SHOWN TO BE USED: the commitment recomputed/);
    // One verdict (#25, item 13): the proof verifies, but it is not VALID for this applicant.
    expect(mismatch.stdout).not.toMatch(/^VALID/m);
    expect(mismatch.stdout.split('\n')[1]).toBe("INVALID for this receipt: the proof verifies, but not over this applicant's data");

    // A setup the trust policy refuses is not VALID either (#25, item 13): one verdict.
    const refused = await cli(['verify', good, '--require-trusted-setup']);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/^REFUSED BY THE TRUST POLICY: the setup is a development one/);
    expect(refused.stdout).not.toMatch(/^VALID/m);
    expect(refused.stdout.split('\n')[1]).toBe('INVALID under the trust policy: the proof verifies, but its setup is refused');

    const junk = path.join(dir, 'junk.json');
    await writeFile(junk, '{"format": "zkinfer.proof-bundle"');
    const unusable = await cli(['verify', junk]);
    expect(unusable.code).toBe(2);
    expect(unusable.stderr).toMatch(/not valid JSON/);

    // The same proof with snarkjs's own CLI.
    for (const [f, v] of [
      ['vkey.json', bundle.verificationKey],
      ['public.json', bundle.publicSignals],
      ['proof.json', bundle.proof],
    ] as const) {
      await writeFile(path.join(dir, f), JSON.stringify(v));
    }
    const snark = await run(
      process.execPath,
      [path.join(REPO, 'node_modules', 'snarkjs', 'build', 'cli.cjs'), 'groth16', 'verify', 'vkey.json', 'public.json', 'proof.json'],
      { cwd: dir },
    );
    expect(snark.stdout).toMatch(/OK!/);
  });
});

describe('loan example with a public input', () => {
  it('puts the quantized features in the public signals, and changing one fails verification', async () => {
    const applicant = JSON.parse(await readFile(LOAN_APPLICANT, 'utf8')) as Record<string, number>;
    const m = await compileModel(LOAN_MODEL, { fidelity: false, publicInput: true });
    const setup = await setupModel(m);
    const { bundle, receipt } = await proveModel(m, setup, applicant);
    expect(receipt).toBeNull();
    expect(bundle.inputCommitment).toBeNull();
    expect(bundle.model.publicInput).toBe(true);
    expect(bundle.signalNames).toEqual(['modelCommitment', 'packedFeatures[0]', 'packedOutputs[0]', 'nonce']);
    const v = await verifyBundle(bundle);
    expect(v.valid).toBe(true);
    // The 8 features, unpacked from one public signal, are the applicant's quantized values.
    expect(v.outputs!.inputs).toHaveLength(8);
    Object.values(applicant).forEach((x, i) => expect(Math.abs(v.outputs!.inputs![i] - x)).toBeLessThanOrEqual(2 ** -11));
    // Changing any one feature (one 22-bit slot of the packed signal) fails verification.
    for (let i = 0; i < 8; i++) {
      const b = clone(bundle);
      b.publicSignals[1] = ((BigInt(b.publicSignals[1]) + (1n << BigInt(22 * i))) % FIELD_ORDER).toString();
      expect((await verifyBundle(b)).valid, `feature ${i}`).toBe(false);
    }
    // A different model id from the committed-input variant of the same file.
    const committed = await compileModel(LOAN_MODEL, { fidelity: false });
    expect(committed.modelId).not.toBe(m.modelId);
  });
});
