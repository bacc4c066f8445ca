import type { BundleModel, DecodedOutputs } from '../prover/bundle.ts';
import { applyHead } from '../model/head.ts';
import { fromField } from '../quant/field.ts';

/** Positions of each group in the public signals (see generateProofCircuit). */
export function signalLayout(m: Pick<BundleModel, 'outputSize' | 'decisionSize' | 'publicInput' | 'inputs'>) {
  // Either one input commitment, or the quantized inputs themselves.
  const inputs = m.publicInput ? m.inputs.reduce((a, i) => a + i.size, 0) : 1;
  const outputs = 1 + inputs;
  return {
    modelCommitment: 0,
    input: 1,
    inputCount: inputs,
    outputs,
    decision: outputs + m.outputSize,
    nonce: outputs + m.outputSize + m.decisionSize,
    count: outputs + m.outputSize + m.decisionSize + 1,
  };
}

/** Reads the proven outputs out of canonical public signals. */
export function decodeOutputs(m: BundleModel, publicSignals: string[]): DecodedOutputs {
  const L = signalLayout(m);
  const ints = publicSignals.slice(L.outputs, L.outputs + m.outputSize).map((s) => fromField(BigInt(s)));
  const values = ints.map((v) => Number(v) / 2 ** m.settings.scaleBits);
  const decision = m.decisionSize ? publicSignals.slice(L.decision, L.decision + m.decisionSize).map((s) => Number(s)) : null;
  const probability = m.head === 'none' ? null : applyHead(m.head, values);
  const scale = 2 ** m.settings.scaleBits;
  const inputs = m.publicInput ? publicSignals.slice(L.input, L.input + L.inputCount).map((v) => Number(fromField(BigInt(v))) / scale) : null;
  return { values, integers: ints.map(String), decision, probability, inputs };
}
