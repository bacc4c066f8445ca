import type { BundleModel } from './descriptor.ts';
import type { DecodedOutputs } from './format.ts';
import { applyHead } from '../model/head.ts';
import { packedCount, unpackValues } from '../fixed/pack.ts';
import { activationBits } from '../fixed/settings.ts';
import { explainCount, explainWidth } from '../fixed/explain-layout.ts';

type LayoutOf = Pick<BundleModel, 'outputSize' | 'decisionSize' | 'publicInput' | 'inputs' | 'settings'> & { explain?: BundleModel['explain'] };

/** Positions of each group in the public signals (see generateProofCircuit). */
export function signalLayout(m: LayoutOf) {
  const w = activationBits(m.settings);
  const inputSize = m.inputs.reduce((a, i) => a + i.size, 0);
  // Either one input commitment, or the packed quantized inputs themselves.
  const inputs = m.publicInput ? packedCount(inputSize, w) : 1;
  const outputs = 1 + inputs;
  const outputCount = packedCount(m.outputSize + m.decisionSize, w);
  // Reasons and fairness bits, packed at their own width, after the outputs.
  const explainSize = m.explain ? explainCount(m.explain) : 0;
  const explain = outputs + outputCount;
  const explainSignals = explainSize > 0 ? packedCount(explainSize, explainWidth(w)) : 0;
  return {
    width: w,
    modelCommitment: 0,
    input: 1,
    inputCount: inputs,
    inputSize,
    outputs,
    outputCount,
    explain,
    explainSize,
    explainSignals,
    nonce: explain + explainSignals,
    count: explain + explainSignals + 1,
  };
}

/** Reads the proven outputs out of canonical public signals. */
export function decodeOutputs(m: BundleModel, publicSignals: string[]): DecodedOutputs {
  const L = signalLayout(m);
  const words = (at: number, n: number) => publicSignals.slice(at, at + n).map(BigInt);
  const values = unpackValues(words(L.outputs, L.outputCount), m.outputSize + m.decisionSize, L.width);
  const ints = values.slice(0, m.outputSize);
  const scale = 2 ** m.settings.scaleBits;
  const reals = ints.map((v) => Number(v) / scale);
  const decision = m.decisionSize ? values.slice(m.outputSize).map(Number) : null;
  const probability = m.head === 'none' ? null : applyHead(m.head, reals);
  const inputs = m.publicInput
    ? unpackValues(words(L.input, L.inputCount), L.inputSize, L.width).map((v, i) => Number(v) / 2 ** (m.inputQuant?.scaleBits[i] ?? m.settings.scaleBits))
    : null;
  const out: DecodedOutputs = { values: reals, integers: ints.map(String), decision, probability, inputs };
  if (m.explain && L.explainSize > 0) {
    const ex = unpackValues(words(L.explain, L.explainSignals), L.explainSize, explainWidth(L.width));
    const k = m.explain.reasons;
    const names = m.explain.features;
    if (k > 0) {
      out.reasons = Array.from({ length: k }, (_, j) => {
        const index = Number(ex[j]);
        return { feature: names[index]?.name ?? `feature ${index}`, index, contribution: Number(ex[k + j]) / scale, contributionInteger: ex[k + j].toString() };
      });
    }
    if (m.explain.protected.length > 0) out.fairness = m.explain.protected.map((p, i) => ({ feature: p.feature, unchanged: ex[2 * k + i] === 1n }));
  }
  return out;
}

/** Names of the public signals, in order, as the circuit generator names them. */
export function signalNames(m: LayoutOf): string[] {
  const L = signalLayout(m);
  const packed = (name: string, count: number) => Array.from({ length: count }, (_, i) => `${name}[${i}]`);
  return [
    'modelCommitment',
    ...(m.publicInput ? packed('packedFeatures', L.inputCount) : ['inputCommitment']),
    ...packed('packedOutputs', L.outputCount),
    ...packed('packedExplain', L.explainSignals),
    'nonce',
  ];
}
