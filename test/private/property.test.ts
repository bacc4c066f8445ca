import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadWitnessCalculator } from '../../src/circuit/index.ts';
import type { PropertyBundle } from '../../src/bundle/property.ts';
import {
  bundleModel,
  compileLoaded,
  compileModel,
  type CompiledModel,
  propertyCircuit,
  proveModel,
  proveProperty,
  setupModel,
} from '../../src/pipeline/index.ts';
import { buildOnnx } from '../../src/model/build-onnx.ts';
import { propertyPlan } from '../../src/circuit/property.ts';
import { quantizeModel } from '../../src/quant/index.ts';
import { DEFAULT_SETTINGS } from '../../src/fixed/settings.ts';
import { cli } from '../helpers/cli.ts';
import type { DenseLayer, ModelIR } from '../../src/model/ir.ts';
import { verifyProperty } from '../../src/verifier/index.ts';
import { isZkinferError } from '../../src/core/errors.ts';

const BLINDING = 0xfeedface1234567890abcdef0987654321n;
const INPUTS = ['age', 'gender', 'income'];

/** Every integer token of a text (digits not part of a longer number). */
const tokens = (text: string) => new Set(text.match(/-?\d+/g) ?? []);

function dense(name: string, inSize: number, outSize: number, weights: number[], bias: number[]): DenseLayer {
  return { kind: 'dense', name, inSize, outSize, weights: Float64Array.from(weights), bias: Float64Array.from(bias), nodes: [name] };
}

/** Three scalar graph inputs (age, gender, income), then the given layers. */
function ir(layers: ModelIR['layers'], head: ModelIR['head'] = 'sigmoid'): ModelIR {
  return {
    inputs: INPUTS.map((name, i) => ({ name, shape: [1], size: 1, offset: i })),
    inputSize: 3,
    layers,
    outputSize: 1,
    head,
    outputName: 'y',
    outputShape: [1],
    opset: 13,
  };
}

/** An MLP 3-4-1 whose first-layer column for gender is `genderColumn`. */
function mlp(genderColumn: number[]): ModelIR {
  const w1: number[] = [];
  const own = [
    [1.75, -2.5],
    [-3.25, 1.5],
    [2.125, 3.5],
    [-1.375, -2.75],
  ];
  for (let j = 0; j < 4; j++) w1.push(own[j][0], genderColumn[j], own[j][1]);
  return ir([
    dense('fc1', 3, 4, w1, [0.25, -0.5, 0.125, 0.75]),
    { kind: 'relu', name: 'act', size: 4, nodes: ['act'] },
    dense('fc2', 4, 1, [2.25, -1.625, 3.125, -2.875], [0.375]),
  ]);
}

async function compilePrivate(model: ModelIR, tag: number): Promise<CompiledModel> {
  return compileLoaded({ ir: model, bytes: Uint8Array.of(tag), externalBytes: [] }, { visibility: 'private', blinding: BLINDING });
}

const mutate = (b: PropertyBundle, f: (c: PropertyBundle) => void): PropertyBundle => {
  const c = structuredClone(b);
  f(c);
  return c;
};

describe('property proofs over a private model\u2019s committed parameters', () => {
  let ignores: CompiledModel;
  let reads: CompiledModel;
  let logistic: CompiledModel;
  let unused: PropertyBundle;

  beforeAll(async () => {
    ignores = await compilePrivate(mlp([0, 0, 0, 0]), 1);
    reads = await compilePrivate(mlp([0, 0, 1.5, 0]), 2);
    // A logistic scorecard: age -1.25, gender 0, income +2.5.
    logistic = await compilePrivate(ir([dense('lr', 3, 1, [-1.25, 0, 2.5], [0.5])]), 3);
    unused = (await proveProperty(ignores, { kind: 'unused', input: 'gender' })).bundle;
  });

  it('proves "gender unused" for a model whose first-layer gender column is zero, and the proof verifies', async () => {
    expect(unused.statement).toEqual({ kind: 'unused', input: 'gender', features: [1] });
    expect(unused.publicSignals[0]).toBe(ignores.modelCommitment.toString());
    const v = await verifyProperty(unused);
    expect(v).toMatchObject({ valid: true, reason: 'proof verifies', proven: 'feature `gender` unused', modelCommitment: ignores.modelCommitment.toString() });
  });

  it('cannot prove it for a model that reads gender: the prover refuses, and the witness calculator rejects the parameters', async () => {
    await expect(proveProperty(reads, { kind: 'unused', input: 'gender' })).rejects.toThrow(
      /cannot prove "feature `gender` unused": 1 of the 4 first-layer weights of `gender` are nonzero/,
    );
    const c = await propertyCircuit(reads, { kind: 'unused', input: 'gender' });
    const calc = await loadWitnessCalculator(c.compiled.wasm);
    await expect(calc.witness({ params: reads.secret!.params, blinding: BLINDING })).rejects.toThrow();
    // The same circuit shape with a zero gender column is satisfiable: the refusal is the property, not the circuit.
    const ok = await propertyCircuit(ignores, { kind: 'unused', input: 'gender' });
    const w = await (await loadWitnessCalculator(ok.compiled.wasm)).witness({ params: ignores.secret!.params, blinding: BLINDING });
    expect(w[1]).toBe(ignores.modelCommitment);
    // Other parameters than the committed ones (here the reading model's, under the ignoring model's circuit) are refused too.
    const calcOk = await loadWitnessCalculator(ok.compiled.wasm);
    await expect(calcOk.witness({ params: reads.secret!.params, blinding: BLINDING })).rejects.toThrow();
    await expect(calcOk.witness({ params: ignores.secret!.params, blinding: BLINDING + 1n })).rejects.toThrow();
  });

  it('fails verification for a tampered bundle: statement, signals, another model\u2019s descriptor, a public model', async () => {
    const renamed = mutate(unused, (b) => Object.assign(b.statement, { input: 'age', features: [0] }));
    expect(await verifyProperty(renamed)).toMatchObject({ valid: false, field: 'statement' });
    // A statement whose features are not its input's, or about an input the model does not have.
    const misplaced = mutate(unused, (b) => (b.statement.features = [0]));
    expect(await verifyProperty(misplaced)).toMatchObject({ valid: false, field: 'statement.features' });
    const unknown = mutate(unused, (b) => (b.statement.input = 'zip'));
    expect(await verifyProperty(unknown)).toMatchObject({ valid: false, field: 'statement.input' });
    // The statement changed and signal 1 set to its hash: the pairing fails.
    const { statementHash } = await import('../../src/bundle/property.ts');
    const { sha256Text } = await import('../../src/core/hash.ts');
    const resigned = mutate(renamed, (b) => (b.publicSignals[1] = ''));
    resigned.publicSignals[1] = (await statementHash(resigned.statement, sha256Text)).toString();
    expect(await verifyProperty(resigned)).toMatchObject({ valid: false, field: 'proof' });
    // Another model's descriptor: it does not hash to signal 0; with signal 0 changed as well, the pairing fails.
    const other = mutate(unused, (b) => (b.model = bundleModel(reads)));
    expect(await verifyProperty(other)).toMatchObject({ valid: false, field: 'publicSignals.0' });
    const otherSigned = mutate(other, (b) => (b.publicSignals[0] = reads.modelCommitment.toString()));
    expect(await verifyProperty(otherSigned)).toMatchObject({ valid: false, field: 'proof' });
    // A descriptor edited in place (its commitment no longer its hash).
    const edited = mutate(unused, (b) => (b.model.parameters!.count += 1));
    expect(await verifyProperty(edited)).toMatchObject({ valid: false, field: 'model' });
    // A public model's descriptor: a property is about committed parameters.
    const pub = await compileLoaded({ ir: mlp([0, 0, 0, 0]), bytes: Uint8Array.of(1), externalBytes: [] });
    const pubSigned = mutate(unused, (b) => {
      b.model = bundleModel(pub);
      b.publicSignals[0] = pub.modelCommitment.toString();
    });
    expect(await verifyProperty(pubSigned)).toMatchObject({ valid: false, field: 'model.parameters' });
    // A signal changed alone.
    const bumped = mutate(unused, (b) => (b.publicSignals[1] = (BigInt(b.publicSignals[1]) + 1n).toString()));
    expect((await verifyProperty(bumped)).valid).toBe(false);
  });

  it('proves a logistic scorecard increasing in income, and cannot prove it decreasing', async () => {
    const inc = await proveProperty(logistic, { kind: 'monotone', input: 'income', direction: 'increasing' });
    expect(inc.bundle.statement).toEqual({ kind: 'monotone', input: 'income', direction: 'increasing', features: [2] });
    expect(await verifyProperty(inc.bundle)).toMatchObject({ valid: true, proven: 'monotone increasing in `income`' });
    await expect(proveProperty(logistic, { kind: 'monotone', input: 'income', direction: 'decreasing' })).rejects.toSatisfy((e: unknown) =>
      isZkinferError(e, 'PROPERTY_FALSE'),
    );
    const c = await propertyCircuit(logistic, { kind: 'monotone', input: 'income', direction: 'decreasing' });
    const calc = await loadWitnessCalculator(c.compiled.wasm);
    await expect(calc.witness({ params: logistic.secret!.params, blinding: BLINDING })).rejects.toThrow();
    // age (weight < 0) is decreasing, not increasing.
    const dec = await proveProperty(logistic, { kind: 'monotone', input: 'age', direction: 'decreasing' });
    expect((await verifyProperty(dec.bundle)).valid).toBe(true);
    await expect(proveProperty(logistic, { kind: 'monotone', input: 'age', direction: 'increasing' })).rejects.toThrow(/are negative/);
  });

  it('refuses what it cannot state: monotone for an MLP, an unknown input, a public model', async () => {
    await expect(propertyCircuit(ignores, { kind: 'monotone', input: 'income', direction: 'increasing' })).rejects.toThrow(/linear scorecards/);
    await expect(propertyCircuit(ignores, { kind: 'unused', input: 'zip' })).rejects.toThrow(/no input named zip \(inputs: age, gender, income\)/);
    const pub = await compileLoaded({ ir: mlp([0, 0, 0, 0]), bytes: Uint8Array.of(1), externalBytes: [] });
    await expect(propertyCircuit(pub, { kind: 'unused', input: 'gender' })).rejects.toThrow(/private model/);
  });

  it('reads a sparse first layer by its terms, and refuses a first layer that is not linear', async () => {
    // Row 0 reads age and gender (gender weight zero), row 1 income and gender (weight 1.25).
    const sparse = (genderWeight: number): ModelIR =>
      ir([
        {
          kind: 'sparse',
          name: 'sp',
          inSize: 3,
          outSize: 2,
          rowPtr: Int32Array.of(0, 2, 4),
          cols: Int32Array.of(0, 1, 1, 2),
          vals: Float64Array.of(1.5, 0, genderWeight, -2.25),
          bias: Float64Array.of(0.25, -0.5),
          nodes: ['sp'],
        },
        { kind: 'relu', name: 'act', size: 2, nodes: ['act'] },
        dense('fc', 2, 1, [1.75, -2.5], [0.125]),
      ]);
    const zero = await compilePrivate(sparse(0), 4);
    const c = await propertyCircuit(zero, { kind: 'unused', input: 'gender' });
    expect(c.plan.indices).toEqual([1, 2]);
    const calc = await loadWitnessCalculator(c.compiled.wasm);
    expect((await calc.witness({ params: zero.secret!.params, blinding: BLINDING }))[1]).toBe(zero.modelCommitment);
    const reading = await compilePrivate(sparse(1.25), 5);
    await expect(proveProperty(reading, { kind: 'unused', input: 'gender' })).rejects.toThrow(/1 of the 2 first-layer weights of `gender` are nonzero/);
    const reluFirst = await compilePrivate(ir([{ kind: 'relu', name: 'act0', size: 3, nodes: ['act0'] }, dense('fc', 3, 1, [1.5, -2.5, 3.25], [0.5])]), 6);
    await expect(propertyCircuit(reluFirst, { kind: 'unused', input: 'gender' })).rejects.toThrow(
      /first layer is act0 \(relu\): property proofs need a first dense or sparse layer/,
    );
  });

  it('covers every one-hot feature of a categorical input, and refuses monotone for one', () => {
    // color: a categorical column of 3 categories (features 1..3), between two numeric inputs.
    const model: ModelIR = {
      ...ir([dense('lr', 5, 1, [1.5, 0, 0, 0, -2.25], [0.5])]),
      inputs: [
        { name: 'age', shape: [1], size: 1, offset: 0 },
        { name: 'color', shape: [1], size: 3, offset: 1, categories: [['red', 'green', 'blue']] },
        { name: 'income', shape: [1], size: 1, offset: 4 },
      ],
      inputSize: 5,
    };
    const q = quantizeModel(model, DEFAULT_SETTINGS, undefined, { private: true });
    const plan = propertyPlan(model, q, { kind: 'unused', input: 'color' });
    expect(plan.statement).toEqual({ kind: 'unused', input: 'color', features: [1, 2, 3] });
    expect(plan.indices).toEqual([1, 2, 3]);
    expect(() => propertyPlan(model, q, { kind: 'monotone', input: 'color', direction: 'increasing' })).toThrow(/color is categorical/);
    expect(propertyPlan(model, q, { kind: 'monotone', input: 'income', direction: 'decreasing' }).indices).toEqual([4]);
  });

  it('holds none of the parameter values in the circuit text, the bundle or the key', async () => {
    const c = await propertyCircuit(ignores, { kind: 'unused', input: 'gender' });
    // The quantized weights and biases, and the packed words the circuit takes.
    const layers = ignores.quantized.layers.filter((l) => l.kind === 'dense') as { weights: bigint[]; bias: bigint[] }[];
    const values = [...layers.flatMap((l) => [...l.weights, ...l.bias]), ...ignores.secret!.params];
    const big = [...new Set(values.filter((v) => v > 100n || v < -100n).map(String))];
    expect(big.length).toBeGreaterThan(10);
    for (const [what, text] of Object.entries({ circuit: c.source, bundle: JSON.stringify(unused) })) {
      const seen = tokens(text);
      expect(
        big.filter((v) => seen.has(v)),
        what,
      ).toEqual([]);
    }
    // The public model's circuit does hold them (the check can fail).
    const pub = await compileLoaded({ ir: mlp([0, 0, 0, 0]), bytes: Uint8Array.of(1), externalBytes: [] });
    const seen = tokens(pub.circuit.source);
    expect(big.filter((v) => seen.has(v)).length).toBeGreaterThan(big.length / 2);
  });
});

/** An ONNX model with three scalar inputs, concatenated, then Gemm 3-4, Relu, Gemm 4-1 and a sigmoid; gender's column zero. */
function onnxModel(): Uint8Array {
  const w1 = [1.75, 0, -2.5, -3.25, 0, 1.5, 2.125, 0, 3.5, -1.375, 0, -2.75];
  return buildOnnx({
    inputs: INPUTS.map((name) => ({ name, dims: ['N', 1] })),
    output: { name: 'y', dims: ['N', 1] },
    initializers: [
      { name: 'W1', dims: [4, 3], data: w1 },
      { name: 'b1', dims: [4], data: [0.25, -0.5, 0.125, 0.75] },
      { name: 'W2', dims: [1, 4], data: [2.25, -1.625, 3.125, -2.875] },
      { name: 'b2', dims: [1], data: [0.375] },
    ],
    nodes: [
      { op: 'Concat', name: 'cat', inputs: INPUTS, outputs: ['x'], attrs: { axis: 1 } },
      { op: 'Gemm', name: 'fc1', inputs: ['x', 'W1', 'b1'], outputs: ['h1'], attrs: { transB: 1 } },
      { op: 'Relu', name: 'act', inputs: ['h1'], outputs: ['a1'] },
      { op: 'Gemm', name: 'fc2', inputs: ['a1', 'W2', 'b2'], outputs: ['logit'], attrs: { transB: 1 } },
      { op: 'Sigmoid', name: 'head', inputs: ['logit'], outputs: ['y'] },
    ],
  });
}

describe('zkinfer property prove / verify', () => {
  let dir: string;
  const f = (name: string) => path.join(dir, name);

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-property-'));
    await writeFile(f('model.onnx'), onnxModel());
    await writeFile(f('blinding.json'), JSON.stringify({ format: 'zkinfer.blinding', blinding: BLINDING.toString() }));
  });

  it('proves "gender unused" and verifies it, with a decision bundle of the same model and not of another', async () => {
    const p = await cli(['property', 'prove', f('model.onnx'), '--blinding', f('blinding.json'), '--unused', 'gender', '-o', f('p.json')]);
    expect(p.stderr).toContain('proof verified');
    expect(p.code).toBe(0);
    const v = await cli(['property', 'verify', f('p.json')]);
    expect(v.code).toBe(0);
    const doc = JSON.parse(await readFile(f('p.json'), 'utf8')) as PropertyBundle;
    expect(v.stdout).toContain(`VALID: proven: feature \`gender\` unused by model ${doc.model.commitment.slice(0, 16)}`);
    // A decision of the same private model (same file, settings and blinding), and one of the model with another blinding.
    const applicant = { age: 0.5, gender: 1, income: -0.25 };
    for (const [name, blinding] of [
      ['same.json', BLINDING],
      ['other.json', BLINDING + 1n],
    ] as const) {
      const m = await compileModel(f('model.onnx'), { fidelity: false, visibility: 'private', blinding });
      await writeFile(f(name), JSON.stringify((await proveModel(m, await setupModel(m), applicant)).bundle));
    }
    const same = await cli(['property', 'verify', f('p.json'), '--bundle', f('same.json')]);
    expect(same.stdout).toMatch(/SAME MODEL: the decision bundle .* verifies and proves a decision of the same model/);
    expect(same.code).toBe(0);
    const other = await cli(['property', 'verify', f('p.json'), '--bundle', f('other.json')]);
    expect(other.stdout).toMatch(/NOT THE SAME MODEL: the decision bundle .* is of another model/);
    expect(other.code).toBe(1);
    // Shown in the decision's own verdict; refused beside another model's decision.
    const shown = await cli(['verify', f('same.json'), '--property', f('p.json')]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/^proven: feature `gender` unused \(/m);
    const notShown = await cli(['verify', f('other.json'), '--property', f('p.json')]);
    expect(notShown.code).toBe(1);
    expect(notShown.stdout).toMatch(/PROPERTY NOT SHOWN .*: it is a property of another model/);
    // The published key passed with --vkey, and another key.
    await writeFile(f('vkey.json'), JSON.stringify(doc.verificationKey));
    expect((await cli(['property', 'verify', f('p.json'), '--vkey', f('vkey.json')])).code).toBe(0);
    await writeFile(f('vkey-other.json'), JSON.stringify(JSON.parse(await readFile(f('other.json'), 'utf8')).verificationKey));
    const wrongKey = await cli(['property', 'verify', f('p.json'), '--vkey', f('vkey-other.json')]);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stdout).toMatch(/INVALID: the verification key \(\w+\) is not the one the bundle names/);
    // A tampered statement: exit 1 with the reason.
    await writeFile(f('t.json'), JSON.stringify({ ...doc, statement: { ...doc.statement, input: 'age', features: [0] } }));
    const t = await cli(['property', 'verify', f('t.json')]);
    expect(t.code).toBe(1);
    expect(t.stdout).toMatch(/INVALID: the statement hashes to \d+, not to the proven statement/);
  });

  it('refuses a property the model does not have, and a request without exactly one property', async () => {
    const r = await cli(['property', 'prove', f('model.onnx'), '--blinding', f('blinding.json'), '--unused', 'income', '-o', f('q.json')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/PROPERTY_FALSE.*cannot prove "feature `income` unused": 4 of the 4 first-layer weights/);
    const both = await cli([
      'property',
      'prove',
      f('model.onnx'),
      '--blinding',
      f('blinding.json'),
      '--unused',
      'a',
      '--monotone',
      'b=increasing',
      '-o',
      f('q.json'),
    ]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/state one property/);
  });
});
