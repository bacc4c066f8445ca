import type { BundleModel } from './descriptor.ts';
import type { DecodedOutputs } from './format.ts';
import { applyHead } from '../model/head.ts';
import { packedCount, unpackValues } from '../fixed/pack.ts';
import { activationBits } from '../fixed/settings.ts';

/** Positions of each group in the public signals (see generateProofCircuit). */
export function signalLayout(m: Pick<BundleModel, 'outputSize' | 'decisionSize' | 'publicInput' | 'inputs' | 'settings'>) {
  const w = activationBits(m.settings);
  const inputSize = m.inputs.reduce((a, i) => a + i.size, 0);
  // Either one input commitment, or the packed quantized inputs themselves.
  const inputs = m.publicInput ? packedCount(inputSize, w) : 1;
  const outputs = 1 + inputs;
  const outputCount = packedCount(m.outputSize + m.decisionSize, w);
  return {
    width: w,
    modelCommitment: 0,
    input: 1,
    inputCount: inputs,
    inputSize,
    outputs,
    outputCount,
    nonce: outputs + outputCount,
    count: outputs + outputCount + 1,
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
  return { values: reals, integers: ints.map(String), decision, probability, inputs };
}

/** Names of the public signals, in order, as the circuit generator names them. */
export function signalNames(m: Pick<BundleModel, 'outputSize' | 'decisionSize' | 'publicInput' | 'inputs' | 'settings'>): string[] {
  const L = signalLayout(m);
  const packed = (name: string, count: number) => Array.from({ length: count }, (_, i) => `${name}[${i}]`);
  return [
    'modelCommitment',
    ...(m.publicInput ? packed('packedFeatures', L.inputCount) : ['inputCommitment']),
    ...packed('packedOutputs', L.outputCount),
    'nonce',
  ];
}
