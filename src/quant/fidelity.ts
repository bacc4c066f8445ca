import { isZkinferError } from '../core/errors.ts';
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
  /** Samples compared (in range). */
  compared: number;
  /** Null when no sample could be compared. */
  maxAbsError: number | null;
  meanAbsError: number | null;
  /** maxAbsError over the largest float output magnitude; null when nothing was compared. */
  relativeError: number | null;
  /** What a reader must not miss: nothing compared, outputs lost to rounding, error as large as the outputs. */
  warnings: string[];
  /** What `maxAbsError` is measured on. */
  space: 'probability' | 'value';
  /** Null when the model has no decision (a regression with several outputs). */
  decisionFlips: number | null;
  flipRate: number | null;
}

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

/** What a warning tells the reader to do, in the words of where the model came from (CLI flags or REST fields). */
export interface FidelityHints {
  /** How to give real inputs or ranges. */
  ranges: string;
  /** How to raise the fixed-point scale. */
  scale: string;
}

export const CLI_FIDELITY_HINTS: FidelityHints = { ranges: 'give --calibration or --input-range', scale: 'raise --scale' };

export async function fidelityReport(
  q: QuantizedModel,
  inputs: ArrayLike<number>[],
  floatModel: (x: ArrayLike<number>) => Promise<ArrayLike<number>>,
  hints: FidelityHints = CLI_FIDELITY_HINTS,
): Promise<FidelityReport> {
  let outOfRange = 0;
  let firstOutOfRange: string | undefined;
  let maxAbs = 0;
  let sumAbs = 0;
  let count = 0;
  let flips = 0;
  let compared = 0;
  let samplesCompared = 0;
  let maxFloat = 0;
  let allZero = true;
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
    samplesCompared++;
    if (ref.output.some((v) => v !== 0n)) allZero = false;
    for (let i = 0; i < want.length; i++) maxFloat = Math.max(maxFloat, Math.abs(want[i]));
    for (let i = 0; i < got.length; i++) {
      const d = Math.abs(got[i] - want[i]);
      maxAbs = Math.max(maxAbs, d);
      sumAbs += d;
      count++;
    }
    const fd = floatDecision(q.head, want);
    if (fd) {
      compared++;
      if (fd.join() !== ref.decision.join()) flips++;
    }
  }
  const hasDecision = q.head !== 'none';
  const relativeError = samplesCompared && maxFloat > 0 ? maxAbs / maxFloat : null;
  const warnings: string[] = [];
  if (inputs.length > 0 && samplesCompared === 0)
    warnings.push(`no sample could be compared: all ${inputs.length} are outside the representable range (${hints.ranges})`);
  else if (outOfRange > 0) warnings.push(`${outOfRange} of ${inputs.length} samples are outside the representable range and were not compared`);
  // With a head, outputs are logits: a zero logit is a real answer; without one, all-zero
  // outputs where the float model is not zero mean the values fell below the scale.
  if (samplesCompared > 0 && q.head === 'none' && allZero && maxFloat > 0)
    warnings.push(
      `every quantized output is 0 while the float outputs reach ${maxFloat.toExponential(2)}: they are below the ` +
        `resolution 2^-${q.settings.scaleBits} (${hints.scale})`,
    );
  if (relativeError !== null && relativeError > 0.1 && q.head === 'none')
    warnings.push(`the error is ${(relativeError * 100).toFixed(0)}% of the outputs' own magnitude`);
  return {
    samples: inputs.length,
    outOfRange,
    ...(firstOutOfRange ? { firstOutOfRange } : {}),
    compared: samplesCompared,
    maxAbsError: samplesCompared ? maxAbs : null,
    meanAbsError: count ? sumAbs / count : null,
    relativeError,
    warnings,
    space: hasDecision ? 'probability' : 'value',
    decisionFlips: hasDecision ? flips : null,
    flipRate: hasDecision && compared ? flips / compared : null,
  };
}
