import { compileCircuit, type CompiledCircuit } from '../circuit/index.ts';
import { generatePropertyCircuit, type PropertyPlan, propertyPlan, type PropertySpec } from '../circuit/property.ts';
import { describeStatement, PROPERTY_FORMAT, PROPERTY_VERSION, type PropertyBundle, statementHash } from '../bundle/property.ts';
import { ZkinferError } from '../core/errors.ts';
import { sha256Text } from '../core/hash.ts';
import { Prover, type ProofTimings, setupCircuit, type CircuitSetup } from '../prover/index.ts';
import { bundleModel, type CompiledModel } from './compile-model.ts';
import { pickPtau, type SetupOptions } from './setup-model.ts';

export type { PropertySpec } from '../circuit/property.ts';

/** A property circuit of a private model: its plan, source and compiled artifacts. */
export interface PropertyCircuit {
  plan: PropertyPlan;
  statementHash: bigint;
  source: string;
  compiled: CompiledCircuit;
}

/** Plans, generates and compiles (cached by content hash) the circuit proving `spec` of a private model. */
export async function propertyCircuit(m: CompiledModel, spec: PropertySpec): Promise<PropertyCircuit> {
  const d = m.descriptor.parameters;
  if (!d || !m.secret)
    throw new ZkinferError(
      'SETTINGS',
      'a property proof is about a private model\u2019s committed parameters: compile it with visibility private',
      'visibility',
    );
  const plan = propertyPlan(m.ir, m.quantized, spec);
  const hash = await statementHash(plan.statement, sha256Text);
  const source = generatePropertyCircuit(plan, {
    modelCommitment: m.modelCommitment,
    statementHash: hash,
    paramCommitment: BigInt(d.commitment),
    count: d.count,
  });
  return { plan, statementHash: hash, source, compiled: await compileCircuit(source) };
}

/** The positions of the plan whose committed value breaks the claim. */
export function propertyViolations(plan: PropertyPlan): number[] {
  const bad = (v: bigint) => (plan.check === 'zero' ? v !== 0n : plan.check === 'nonnegative' ? v < 0n : v > 0n);
  return plan.indices.filter((i) => bad(plan.weights[i]));
}

/** Sets up (or reuses) the Groth16 key of a property circuit, on the same powers of tau a decision circuit would use. */
export async function setupProperty(c: PropertyCircuit, opts: SetupOptions = {}): Promise<CircuitSetup> {
  return setupCircuit(c.compiled, await pickPtau(c, opts));
}

export interface PropertyProof {
  bundle: PropertyBundle;
  timings: ProofTimings;
  constraints: number;
  setup: CircuitSetup;
}

/**
 * Proves that a private model's committed parameters satisfy `spec`: refuses (PROPERTY_FALSE)
 * when they do not, before any proving (the circuit could not be satisfied anyway).
 */
export async function proveProperty(m: CompiledModel, spec: PropertySpec, opts: SetupOptions = {}): Promise<PropertyProof> {
  const c = await propertyCircuit(m, spec);
  const bad = propertyViolations(c.plan);
  if (bad.length > 0) {
    const what = c.plan.check === 'zero' ? 'nonzero' : c.plan.check === 'nonnegative' ? 'negative' : 'positive';
    throw new ZkinferError(
      'PROPERTY_FALSE',
      `cannot prove "${describeStatement(c.plan.statement)}": ${bad.length} of the ${c.plan.indices.length} first-layer weights of ` +
        `\`${spec.input}\` are ${what} in this model`,
      'property',
    );
  }
  const setup = await setupProperty(c, opts);
  const prover = await Prover.load(c.compiled, setup);
  const raw = await prover.prove({ params: m.secret!.params, blinding: m.secret!.blinding });
  const expected = [m.modelCommitment, c.statementHash].map(String);
  if (raw.publicSignals.join() !== expected.join()) throw new Error(`property circuit signals ${raw.publicSignals.join()} are not ${expected.join()}`);
  const bundle: PropertyBundle = {
    format: PROPERTY_FORMAT,
    version: PROPERTY_VERSION,
    createdAt: new Date().toISOString(),
    model: bundleModel(m),
    statement: c.plan.statement,
    proof: raw.proof,
    publicSignals: raw.publicSignals,
    vkeyHash: setup.provenance.vkeySha256,
    verificationKey: setup.vkey,
    setup: setup.provenance,
    constraints: c.compiled.constraints,
  };
  return { bundle, timings: raw.timings, constraints: c.compiled.constraints, setup };
}
