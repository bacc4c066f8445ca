import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as snarkjs from 'snarkjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadWitnessCalculator } from '../../src/circuit/index.ts';
import { buildOnnx, loadModel, parseInput } from '../../src/model/index.ts';
import { compileModel, type CompiledModel, setupModel } from '../../src/pipeline/index.ts';
import { chooseProver, NativeKey, nativeAddon, Prover } from '../../src/prover/index.ts';
import type { CircuitSetup } from '../../src/prover/setup.ts';
import { FIELD_ORDER, runReference } from '../../src/quant/index.ts';
import { polynomial, rand, residualMlp } from '../helpers/dag.ts';
import { LOAN_APPLICANT, LOAN_MODEL, REPO } from '../helpers/paths.ts';

/**
 * The native Groth16 prover against snarkjs, on the same witness of real circuits: both
 * proofs verify with snarkjs, they differ (fresh r and s), their public signals are equal;
 * a witness with one signal changed gives a proof that does not verify.
 */
const addon = nativeAddon();
const built = 'addon' in addon;
if (!built) console.warn(`native prover tests skipped: ${addon.reason}`);

interface Case {
  name: string;
  model: () => Promise<string>;
  input: (m: CompiledModel) => Promise<unknown>;
  options?: (file: string) => Promise<Parameters<typeof compileModel>[1]>;
}

/** A committed sklearn fixture (test/fixtures/models/sklearn), calibrated on its own rows. */
const SKLEARN = path.join(REPO, 'test', 'fixtures', 'models', 'sklearn');
const sklearnRows = async (name: string): Promise<number[][]> => JSON.parse(await readFile(path.join(SKLEARN, `${name}.inputs.json`), 'utf8')).rows;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-native-'));
});

const graph = (name: string, spec: () => Parameters<typeof buildOnnx>[0]) => async () => {
  const file = path.join(dir, `${name}.onnx`);
  await writeFile(file, buildOnnx(spec()));
  return file;
};

const CASES: Case[] = [
  { name: 'loan example', model: async () => LOAN_MODEL, input: async () => JSON.parse(await readFile(LOAN_APPLICANT, 'utf8')) },
  { name: 'residual MLP', model: graph('residual-mlp', residualMlp), input: async (m) => ({ input_data: [rand(m.ir.inputSize, 1.5)] }) },
  { name: 'polynomial features', model: graph('polynomial', polynomial), input: async (m) => ({ input_data: [rand(m.ir.inputSize, 1)] }) },
  {
    name: 'sklearn mlp_binary (committed fixture)',
    model: async () => path.join(SKLEARN, 'mlp_binary.onnx'),
    input: async () => (await sklearnRows('mlp_binary'))[0],
    options: async (file) => {
      const probe = (await loadModel(file)).ir;
      const calibration = (await sklearnRows('mlp_binary')).map((r) => parseInput(r, probe));
      return { calibration, settings: { scaleBits: 12, bits: 32 }, fidelity: false };
    },
  },
];

/** The witness generator's input, as proveModel builds it (fixed salt and nonce). */
function circuitInput(m: CompiledModel, input: unknown): Record<string, bigint | bigint[]> {
  const ref = runReference(m.quantized, parseInput(input, m.ir));
  const secret: Record<string, bigint | bigint[]> = m.secret ? { params: m.secret.params, blinding: m.secret.blinding } : {};
  return m.publicInput ? { nonce: 7n, x: ref.input, ...secret } : { nonce: 7n, x: ref.input, salt: 1234567n, ...secret };
}

describe.skipIf(!built).each(CASES)('native prover: $name', (c) => {
  let m: CompiledModel;
  let setup: CircuitSetup;
  let zkey: Uint8Array;
  let wtns: Uint8Array;
  let key: NativeKey;

  beforeAll(async () => {
    const file = await c.model();
    m = await compileModel(file, c.options ? await c.options(file) : { fidelity: false });
    setup = await setupModel(m);
    zkey = await readFile(setup.zkey);
    const calc = await loadWitnessCalculator(m.compiled.wasm);
    wtns = await calc.wtns(circuitInput(m, await c.input(m)));
    const k = NativeKey.load(zkey);
    if (!(k instanceof NativeKey)) throw new Error(k.reason);
    key = k;
  });

  it('proves the witness snarkjs proves: both verify, the proofs differ, the public signals are equal', async () => {
    const ref = await snarkjs.groth16.prove({ type: 'mem', data: zkey }, { type: 'mem', data: wtns });
    const a = await key.prove(wtns);
    const b = await key.prove(wtns);
    expect(await snarkjs.groth16.verify(setup.vkey, ref.publicSignals, ref.proof)).toBe(true);
    expect(await snarkjs.groth16.verify(setup.vkey, a.publicSignals, a.proof)).toBe(true);
    expect(await snarkjs.groth16.verify(setup.vkey, b.publicSignals, b.proof)).toBe(true);
    expect(a.publicSignals).toEqual(ref.publicSignals);
    expect(a.proof.pi_a[2]).toBe('1');
    expect(a.proof.pi_b[2]).toEqual(['1', '0']);
    expect(Object.keys(a.proof).sort()).toEqual(Object.keys(ref.proof).sort());
    expect(a.proof.pi_a).not.toEqual(ref.proof.pi_a);
    expect(a.proof.pi_a).not.toEqual(b.proof.pi_a);
    expect(a.proof.pi_c).not.toEqual(b.proof.pi_c);
    // A proof does not verify for other public signals.
    const other = [...a.publicSignals];
    other[0] = ((BigInt(other[0]) + 1n) % FIELD_ORDER).toString();
    expect(await snarkjs.groth16.verify(setup.vkey, other, a.proof)).toBe(false);
  });

  it('a witness with one private signal changed gives a proof that does not verify', async () => {
    const bad = Uint8Array.from(wtns);
    // .wtns: a 12-byte header, section 1 (12 + 40 bytes: n8, r, nWitness), section 2's 12 bytes, then the values.
    const values = 12 + 12 + 40 + 12;
    const nPublic = setup.vkey.nPublic;
    const n = (bad.length - values) / 32;
    const at = values + 32 * (nPublic + 1 + Math.floor((n - nPublic - 1) / 2));
    const v = bad.subarray(at, at + 32).reduceRight((acc, byte) => (acc << 8n) | BigInt(byte), 0n);
    let w = (v + 1n) % FIELD_ORDER;
    for (let k = 0; k < 32; k++, w >>= 8n) bad[at + k] = Number(w & 0xffn);
    const p = await key.prove(bad);
    expect(await snarkjs.groth16.verify(setup.vkey, p.publicSignals, p.proof)).toBe(false);
  });

  it('the Prover uses it by default and says so; ZKINFER_PROVER=snarkjs or the option picks snarkjs', async () => {
    expect(chooseProver({}).kind).toBe('native');
    expect(chooseProver({ ZKINFER_PROVER: 'snarkjs' }).kind).toBe('snarkjs');
    expect(() => chooseProver({ ZKINFER_PROVER: 'gpu' })).toThrow(/native or snarkjs/);
    const input = circuitInput(m, await c.input(m));
    const native = await Prover.load(m.compiled, setup);
    const js = await Prover.load(m.compiled, setup, { prover: 'snarkjs' });
    const [a, b] = [await native.prove(input), await js.prove(input)];
    expect([a.prover, b.prover]).toEqual(['native', 'snarkjs']);
    expect(a.publicSignals).toEqual(b.publicSignals);
  });
});
