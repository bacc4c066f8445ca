import {
  compileCircuit,
  generateCircuit,
  loadWitnessCalculator,
  readSymbols,
  readR1csConstraints,
  type GeneratedCircuit,
  type CompiledCircuit,
  type Constraint,
} from '../../src/circuit/index.ts';
import { fromField } from '../../src/fixed/field.ts';
import type { QuantizedModel } from '../../src/quant/quantize.ts';
import type { ReferenceResult } from '../../src/quant/reference.ts';

export interface Harness {
  gen: GeneratedCircuit;
  compiled: CompiledCircuit;
  witness: (xq: bigint[]) => Promise<bigint[]>;
  symbols: Map<string, number>;
  constraints: () => Promise<Constraint[]>;
}

/** Compiles a quantized model's standalone circuit (cached by content) and loads its witness generator. */
export async function harness(q: QuantizedModel): Promise<Harness> {
  const gen = generateCircuit(q);
  const compiled = await compileCircuit(gen.source);
  const calc = await loadWitnessCalculator(compiled.wasm);
  let cache: Constraint[] | undefined;
  return {
    gen,
    compiled,
    witness: (xq) => calc.witness({ x: xq }),
    symbols: await readSymbols(compiled.sym),
    constraints: async () => (cache ??= await readR1csConstraints(compiled.r1cs)),
  };
}

/** The public outputs of a witness (outputs come first, after the constant 1), as signed integers. */
export function witnessOutputs(w: bigint[], q: QuantizedModel, decisionSize: number): { y: bigint[]; decision: bigint[] } {
  const y = w.slice(1, 1 + q.outputSize).map(fromField);
  const decision = w.slice(1 + q.outputSize, 1 + q.outputSize + decisionSize).map(fromField);
  return { y, decision };
}

export function expectMatches(ref: ReferenceResult, out: { y: bigint[]; decision: bigint[] }): void {
  if (ref.output.join() !== out.y.join() || ref.decision.join() !== out.decision.join()) {
    throw new Error(`circuit ${out.y.join()} / ${out.decision.join()} != reference ${ref.output.join()} / ${ref.decision.join()}`);
  }
}
