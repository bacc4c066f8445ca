import { isZkinferError } from '../errors.ts';
import { applyHead } from '../model/head.ts';
import type { QuantizedModel } from './quantize.ts';
import { runReference } from './reference.ts';

/**
 * How far the integer model (what the circuit proves) is from the float model (what
 * onnxruntime computes), on given inputs. For sigmoid/softmax heads the comparison is
 * in probability space, and a decision flip is a sample whose decision differs.
 */
export interface FidelityReport {
  samples: number;
  /** Samples the integer model could not represent (counted, not compared). */
  outOfRange: number;
  firstOutOfRange?: string;
  maxAbsError: number;
  meanAbsError: number;
  /** What `maxAbsError` is measured on. */
  space: 'probability' | 'value';
  /** Null when the model has no decision (a regression with several outputs). */
  decisionFlips: number | null;
  flipRate: number | null;
}

/** Float-side decision, with the same tie rule as the circuit (first maximum). */
function decide(head: QuantizedModel['head'], out: ArrayLike<number>): number[] | null {
  if (head === 'sigmoid') return Array.from(out, (p) => (p >= 0.5 ? 1 : 0));
  if (head === 'softmax') {
    let best = 0;
    for (let i = 1; i < out.length; i++) if (out[i] > out[best]) best = i;
    return [best];
  }
  // A single-output regression read as a threshold at 0 has no defined decision.
  return null;
}

/** The integer model's output in the same space as the float model's graph output. */
export function dequantizeOutput(q: QuantizedModel, y: bigint[]): number[] {
  return applyHead(q.head, y.map((v) => Number(v) / 2 ** q.settings.scaleBits));
}

export async function fidelityReport(
  q: QuantizedModel,
  inputs: ArrayLike<number>[],
  floatModel: (x: ArrayLike<number>) => Promise<ArrayLike<number>>,
): Promise<FidelityReport> {
  let outOfRange = 0;
  let firstOutOfRange: string | undefined;
  let maxAbs = 0;
  let sumAbs = 0;
  let count = 0;
  let flips = 0;
  let compared = 0;
  for (const x of inputs) {
    let ref;
    try {
      ref = runReference(q, x);
    } catch (e) {
      if (!isZkinferError(e, 'INPUT_RANGE')) throw e;
      outOfRange++;
      firstOutOfRange ??= e.message;
      continue;
    }
    const want = await floatModel(x);
    const got = dequantizeOutput(q, ref.output);
    for (let i = 0; i < got.length; i++) {
      const d = Math.abs(got[i] - want[i]);
      maxAbs = Math.max(maxAbs, d);
      sumAbs += d;
      count++;
    }
    const fd = decide(q.head, want);
    if (fd) {
      compared++;
      if (fd.join() !== ref.decision.join()) flips++;
    }
  }
  const hasDecision = q.head !== 'none';
  return {
    samples: inputs.length,
    outOfRange,
    ...(firstOutOfRange ? { firstOutOfRange } : {}),
    maxAbsError: maxAbs,
    meanAbsError: count ? sumAbs / count : 0,
    space: hasDecision ? 'probability' : 'value',
    decisionFlips: hasDecision ? flips : null,
    flipRate: hasDecision && compared ? flips / compared : null,
  };
}
