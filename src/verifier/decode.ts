import type { BundleModel, DecodedOutputs } from '../prover/bundle.ts';
import { applyHead } from '../model/head.ts';
import { fromField } from '../quant/field.ts';

/** Positions of each group in the public signals (see generateProofCircuit). */
export function signalLayout(m: Pick<BundleModel, 'outputSize' | 'decisionSize'>) {
  return {
    modelCommitment: 0,
    inputCommitment: 1,
    outputs: 2,
    decision: 2 + m.outputSize,
    nonce: 2 + m.outputSize + m.decisionSize,
    count: 3 + m.outputSize + m.decisionSize,
  };
}

/** Reads the proven outputs out of canonical public signals. */
export function decodeOutputs(m: BundleModel, publicSignals: string[]): DecodedOutputs {
  const L = signalLayout(m);
  const ints = publicSignals.slice(L.outputs, L.outputs + m.outputSize).map((s) => fromField(BigInt(s)));
  const values = ints.map((v) => Number(v) / 2 ** m.settings.scaleBits);
  const decision = m.decisionSize ? publicSignals.slice(L.decision, L.decision + m.decisionSize).map((s) => Number(s)) : null;
  const probability = m.head === 'none' ? null : applyHead(m.head, values);
  return { values, integers: ints.map(String), decision, probability };
}
