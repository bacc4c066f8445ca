import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileCircuit, firstViolated, generateCircuit, loadWitnessCalculator, readR1csConstraints, readSymbols } from '../../src/circuit/index.ts';
import { parameterCommitment } from '../../src/bundle/input-commitment.ts';
import { descriptorCommitment } from '../../src/bundle/descriptor.ts';
import type { ProofBundle } from '../../src/bundle/format.ts';
import { sha256Text } from '../../src/core/hash.ts';
import { compileModel, type CompiledModel, proveModel, setupModel } from '../../src/pipeline/index.ts';
import { loadModel, parseInput } from '../../src/model/index.ts';
import { estimateConstraints, quantizeModel, runReference } from '../../src/quant/index.ts';
import { DEFAULT_SETTINGS } from '../../src/fixed/settings.ts';
import { fromField } from '../../src/fixed/field.ts';
import { verifyBundle } from '../../src/verifier/index.ts';
import { registrySource } from '../../src/chain/solidity.ts';
import type { CircuitSetup } from '../../src/prover/setup.ts';
import { LOAN_APPLICANT, LOAN_MODEL } from '../helpers/paths.ts';
import { TEST_BLINDING } from './blinding.ts';
import { denseLayer, handIr, maxPoolLayer, rng, sparseLayer } from '../helpers/ir.ts';

const BLINDING = TEST_BLINDING;

/** Every integer token of a text (digits not part of a longer number). */
const tokens = (text: string) => new Set(text.match(/-?\d+/g) ?? []);

describe('a private model: parameters as a private witness bound by a commitment', () => {
  let m: CompiledModel;
  let setup: CircuitSetup;
  let bundle: ProofBundle;
  let applicant: Record<string, number>;

  beforeAll(async () => {
    applicant = JSON.parse(await readFile(LOAN_APPLICANT, 'utf8'));
    m = await compileModel(LOAN_MODEL, { fidelity: false, visibility: 'private', blinding: BLINDING });
    setup = await setupModel(m);
    bundle = (await proveModel(m, setup, applicant, { nonce: 7n })).bundle;
  });

  it('states its commitment in the descriptor, as Poseidon over the parameters and the blinding', async () => {
    const params = m.secret!.params;
    // 280 weights and 25 biases (8-16-8-1), packed several to a committed word.
    const q = m.quantized.layers.filter((l) => l.kind === 'dense') as { weights: bigint[]; bias: bigint[] }[];
    expect(q.reduce((a, l) => a + l.weights.length + l.bias.length, 0)).toBe(8 * 16 + 16 + 16 * 8 + 8 + 8 + 1);
    expect(params.length).toBeLessThan(40);
    expect(m.descriptor.parameters).toEqual({
      visibility: 'private',
      commitment: (await parameterCommitment(params, BLINDING)).toString(),
      count: params.length,
    });
    expect(await descriptorCommitment(m.descriptor, sha256Text)).toBe(m.modelCommitment);
  });

  it('proves and verifies the same decision as the integer reference', async () => {
    const v = await verifyBundle(bundle);
    expect(v).toMatchObject({ valid: true });
    const ref = runReference(m.quantized, parseInput(applicant, m.ir));
    expect(v.outputs?.integers).toEqual(ref.output.map(String));
    expect(bundle.model.parameters?.commitment).toBe(m.descriptor.parameters!.commitment);
  });

  it("records the parameter commitment in the model's on-chain registry, which refuses any other model commitment", () => {
    const sol = registrySource(bundle.model);
    expect(sol).toContain(`uint256 public constant PARAMETER_COMMITMENT = ${bundle.model.parameters!.commitment};`);
    expect(sol).toContain(`uint256 public constant MODEL_COMMITMENT = ${bundle.model.commitment};`);
    expect(sol).toContain('if (pubSignals[0] != MODEL_COMMITMENT) revert WrongModel(pubSignals[0]);');
    const { parameters: _p, ...pub } = bundle.model;
    expect(registrySource(pub)).not.toContain('PARAMETER_COMMITMENT');
  });

  it('shows none of its parameters in the circuit, the bundle or the key', async () => {
    // Weights and biases beyond 1000 in magnitude (distinctive enough that a match would not be chance), and the packed words.
    const layers = m.quantized.layers.filter((l) => l.kind === 'dense') as { weights: bigint[]; bias: bigint[] }[];
    const values = [...layers.flatMap((l) => [...l.weights, ...l.bias]), ...m.secret!.params];
    const big = [...new Set(values.filter((v) => v > 1000n || v < -1000n).map(String))];
    expect(big.length).toBeGreaterThan(20);
    const texts = {
      circuit: m.circuit.source,
      bundle: JSON.stringify(bundle),
      vkey: JSON.stringify(setup.vkey),
    };
    for (const [what, text] of Object.entries(texts)) {
      const seen = tokens(text);
      expect(
        big.filter((v) => seen.has(v)),
        what,
      ).toEqual([]);
    }
    // The public model's circuit does hold them (the check can fail).
    const pub = await compileModel(LOAN_MODEL, { fidelity: false });
    const seen = tokens(pub.circuit.source);
    expect(big.filter((v) => seen.has(v)).length).toBeGreaterThan(big.length / 2);
  });

  it('refuses other parameters under the same key: the witness with one weight changed breaks a constraint', async () => {
    const calc = await loadWitnessCalculator(m.compiled.wasm);
    const ref = runReference(m.quantized, parseInput(applicant, m.ir));
    const input = { nonce: 7n, x: ref.input, salt: 5n, params: m.secret!.params, blinding: BLINDING };
    const w = await calc.witness(input);
    const constraints = await readR1csConstraints(m.compiled.r1cs);
    expect(firstViolated(constraints, w)).toBe(-1);
    // The witness calculator itself refuses a changed weight (the commitment is a constant of the circuit) ...
    const changed = [...m.secret!.params];
    changed[1] += 1n;
    await expect(calc.witness({ ...input, params: changed })).rejects.toThrow();
    // ... and so does the constraint system, for a witness with that weight edited in place.
    const sym = await readSymbols(m.compiled.sym);
    const at = sym.get('main.params[1]')!;
    expect(at).toBeGreaterThan(0);
    const tampered = [...w];
    tampered[at] += 1n;
    expect(firstViolated(constraints, tampered)).toBeGreaterThanOrEqual(0);
    // Another blinding is another commitment.
    await expect(calc.witness({ ...input, blinding: BLINDING + 1n })).rejects.toThrow();
  });

  it('gives another commitment and id for one weight changed or another blinding', async () => {
    const params = m.secret!.params;
    const changed = [...params];
    changed[0] += 1n;
    const a = await parameterCommitment(params, BLINDING);
    expect(await parameterCommitment(changed, BLINDING)).not.toBe(a);
    expect(await parameterCommitment(params, BLINDING + 1n)).not.toBe(a);
    const other = await compileModel(LOAN_MODEL, { fidelity: false, visibility: 'private', blinding: BLINDING + 1n });
    expect(other.descriptor.parameters!.commitment).not.toBe(m.descriptor.parameters!.commitment);
    expect(other.modelId).not.toBe(m.modelId);
    expect(other.modelCommitment).not.toBe(m.modelCommitment);
  });

  it('costs one constraint per weight plus the hashing, as the estimate and the plan state', async () => {
    const { ir } = await loadModel(LOAN_MODEL);
    const est = estimateConstraints(ir, DEFAULT_SETTINGS, undefined, { private: true });
    const q = quantizeModel(ir, DEFAULT_SETTINGS, undefined, { private: true });
    const gen = generateCircuit(q);
    expect(est.total).toBe(gen.constraints);
    const compiled = await compileCircuit(gen.source);
    expect(compiled.constraints).toBe(gen.constraints);
    const pub = estimateConstraints(ir, DEFAULT_SETTINGS);
    expect(est.total).toBeGreaterThan(pub.total + 8 * 16 + 16 * 8 + 8);
  });

  it('counts sparse layers, max pools after a private linear layer, and a layer without terms exactly', async () => {
    const r = rng(3);
    const ir = handIr(
      6,
      [
        sparseLayer('sp', 6, 8, 2, r),
        maxPoolLayer('pool', 8, [
          [0, 1],
          [2, 3],
          [4, 5],
          [6, 7],
        ]),
        denseLayer('fc', 4, 2, r),
        { kind: 'relu', name: 'act', size: 2, nodes: ['act'] },
        { ...sparseLayer('empty', 2, 1, 0, r) },
      ],
      'sigmoid',
      1,
    );
    const est = estimateConstraints(ir, DEFAULT_SETTINGS, undefined, { private: true });
    const q = quantizeModel(ir, DEFAULT_SETTINGS, undefined, { private: true });
    const gen = generateCircuit(q);
    expect(est.total).toBe(gen.constraints);
    const compiled = await compileCircuit(gen.source);
    expect(compiled.constraints).toBe(gen.constraints);
    // The witness equals the integer reference.
    const calc = await loadWitnessCalculator(compiled.wasm);
    const x = Float64Array.from({ length: 6 }, () => r() * 2 - 1);
    const ref = runReference(q, x);
    const w = await calc.witness({ x: ref.input, p: gen.params!, blinding: BLINDING });
    expect(fromField(w[1])).toBe(ref.output[0]);
  });

  it('refuses a private model with a layer kind that cannot keep its parameters private, naming it', () => {
    const r = rng(4);
    const ir = handIr(
      4,
      [denseLayer('fc', 4, 4, r), { kind: 'binarize', name: 'bin', size: 4, threshold: Float64Array.of(0, 0, 0, 0), nodes: ['bin'] }],
      'none',
      4,
    );
    expect(() => quantizeModel(ir, DEFAULT_SETTINGS, undefined, { private: true })).toThrow(/bin: a private model cannot have a binarize layer/);
  });
});
