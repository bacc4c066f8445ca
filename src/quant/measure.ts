import { isZkinferError } from '../core/errors.ts';
import { applyHead } from '../model/head.ts';
import type { QuantizedModel } from './quantize.ts';
import { runReference } from './reference.ts';

/** Float-side decision, with the same rules as the circuit (sigmoid: p >= 0.5 per output; softmax, argmax: first maximum). */
export function floatDecision(head: QuantizedModel['head'], out: ArrayLike<number>): number[] | null {
  if (head === 'sigmoid') return Array.from(out, (p) => (p >= 0.5 ? 1 : 0));
  if (head === 'softmax' || head === 'argmax') {
    let best = 0;
    for (let i = 1; i < out.length; i++) if (out[i] > out[best]) best = i;
    return [best];
  }
  // A single-output regression read as a threshold at 0 has no defined decision.
  return null;
}

/** The integer model's output in the same space as the float model's graph output. */
export function dequantizeOutput(q: QuantizedModel, y: bigint[]): number[] {
  return applyHead(
    q.head,
    y.map((v) => Number(v) / 2 ** q.settings.scaleBits),
  );
}

/** The measured error of one quantized model on inputs whose float outputs are known. */
export interface FidelityMeasure {
  outOfRange: number;
  firstOutOfRange?: string;
  compared: number;
  maxAbs: number;
  meanAbs: number | null;
  maxFloat: number;
  allZero: boolean;
  relativeError: number | null;
  decisionFlips: number;
  decided: number;
}

/** Runs the integer reference on each input and compares it with the float outputs `wants` (same order). */
export function measureFidelity(q: QuantizedModel, inputs: ArrayLike<number>[], wants: ArrayLike<number>[]): FidelityMeasure {
  const m: FidelityMeasure = {
    outOfRange: 0,
    compared: 0,
    maxAbs: 0,
    meanAbs: null,
    maxFloat: 0,
    allZero: true,
    relativeError: null,
    decisionFlips: 0,
    decided: 0,
  };
  let sumAbs = 0;
  let count = 0;
  inputs.forEach((x, k) => {
    let ref;
    try {
      ref = runReference(q, x);
    } catch (e) {
      if (!isZkinferError(e, 'INPUT_RANGE')) throw e;
      m.outOfRange++;
      m.firstOutOfRange ??= e.message;
      return;
    }
    const want = wants[k];
    const got = dequantizeOutput(q, ref.output);
    m.compared++;
    if (ref.output.some((v) => v !== 0n)) m.allZero = false;
    for (let i = 0; i < want.length; i++) m.maxFloat = Math.max(m.maxFloat, Math.abs(want[i]));
    for (let i = 0; i < got.length; i++) {
      const d = Math.abs(got[i] - want[i]);
      m.maxAbs = Math.max(m.maxAbs, d);
      sumAbs += d;
      count++;
    }
    const fd = floatDecision(q.head, want);
    if (fd) {
      m.decided++;
      if (fd.join() !== ref.decision.join()) m.decisionFlips++;
    }
  });
  m.meanAbs = count ? sumAbs / count : null;
  m.relativeError = m.compared && m.maxFloat > 0 ? m.maxAbs / m.maxFloat : null;
  return m;
}

/** Percent with two significant digits: 7.9%, 0.12%. */
export function percent(f: number): string {
  return `${Number((f * 100).toPrecision(2))}%`;
}
