import type { QuantizedModel } from './quantize.ts';
import { measureFidelity, percent } from './measure.ts';
import { ZkinferError } from '../core/errors.ts';
import type { QuantSettings } from '../fixed/settings.ts';
import { type SettingsSuggestion, suggestSettings } from './suggest.ts';

export { dequantizeOutput, floatDecision, measureFidelity, percent } from './measure.ts';

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
  /** The threshold `relativeError` is warned about above (a fraction). */
  maxRelativeError: number;
  /** What a reader must not miss: nothing compared, outputs lost to rounding, relative error above the threshold. */
  warnings: string[];
  /**
   * With a relative error above the threshold: the settings found to bring it under (tried
   * through the same integer reference on the same inputs), or why none within the limits does.
   */
  suggestion?: SettingsSuggestion;
  /** What `maxAbsError` is measured on. */
  space: 'probability' | 'value';
  /** Null when the model has no decision (a regression with several outputs). */
  decisionFlips: number | null;
  flipRate: number | null;
}

/** What a warning tells the reader to do, in the words of where the model came from (CLI flags or REST fields). */
export interface FidelityHints {
  /** How to give real inputs or ranges. */
  ranges: string;
  /** How to raise the fixed-point scale. */
  scale: string;
  /** How to give these settings. */
  settings: (st: QuantSettings) => string;
  /** How to declare a graph input's range. */
  declare: (input: string) => string;
}

export const CLI_FIDELITY_HINTS: FidelityHints = {
  ranges: 'give --calibration or --input-range',
  scale: 'raise --scale',
  settings: (st) => `--scale ${st.scaleBits} --bits ${st.bits}`,
  declare: (input) => `--input-range ${input}=lo:hi`,
};

/** Relative error on the outputs above which the report warns (1%), unless told otherwise. */
export const DEFAULT_MAX_RELATIVE_ERROR = 0.01;

export interface FidelityOptions {
  /** Warn when the relative error exceeds this fraction (default 1%). */
  maxRelativeError?: number;
  /**
   * The same model quantized with other settings (throws when they are refused): with it,
   * a warning about relative error comes with the settings that bring it under the threshold.
   */
  requantize?: (st: QuantSettings) => QuantizedModel;
}

export async function fidelityReport(
  q: QuantizedModel,
  inputs: ArrayLike<number>[],
  floatModel: (x: ArrayLike<number>) => Promise<ArrayLike<number>>,
  hints: FidelityHints = CLI_FIDELITY_HINTS,
  opts: FidelityOptions = {},
): Promise<FidelityReport> {
  const maxRelativeError = opts.maxRelativeError ?? DEFAULT_MAX_RELATIVE_ERROR;
  if (!(maxRelativeError > 0 && maxRelativeError < 1))
    throw new ZkinferError('SETTINGS', `the relative error threshold must be a fraction between 0 and 1 (got ${maxRelativeError})`, 'maxRelativeError');
  const wants: ArrayLike<number>[] = [];
  for (const x of inputs) wants.push(await floatModel(x));
  const m = measureFidelity(q, inputs, wants);
  const hasDecision = q.head !== 'none';
  const warnings: string[] = [];
  if (inputs.length > 0 && m.compared === 0)
    warnings.push(`no sample could be compared: all ${inputs.length} are outside the representable range (${hints.ranges})`);
  else if (m.outOfRange > 0) warnings.push(`${m.outOfRange} of ${inputs.length} samples are outside the representable range and were not compared`);
  // With a head, outputs are logits: a zero logit is a real answer; without one, all-zero
  // outputs where the float model is not zero mean the values fell below the scale.
  if (m.compared > 0 && q.head === 'none' && m.allZero && m.maxFloat > 0)
    warnings.push(
      `every quantized output is 0 while the float outputs reach ${m.maxFloat.toExponential(2)}: they are below the ` +
        `resolution 2^-${q.settings.scaleBits} (${hints.scale})`,
    );
  let suggestion: FidelityReport['suggestion'];
  if (m.relativeError !== null && m.relativeError > maxRelativeError) {
    const found = opts.requantize ? suggestSettings(q.settings, m.outOfRange, inputs, wants, opts.requantize, maxRelativeError) : undefined;
    suggestion = found;
    const advice = !found
      ? ''
      : found.settings
        ? `: ${hints.settings(found.settings)} brings it to ${percent(found.relativeError!)} on the same inputs`
        : `: ${found.reason}`;
    warnings.push(
      `the relative error is ${percent(m.relativeError)} of the largest output (max abs error ${m.maxAbs.toExponential(2)}), ` +
        `above the ${percent(maxRelativeError)} threshold${advice}`,
    );
  }
  return {
    samples: inputs.length,
    outOfRange: m.outOfRange,
    ...(m.firstOutOfRange ? { firstOutOfRange: m.firstOutOfRange } : {}),
    compared: m.compared,
    maxAbsError: m.compared ? m.maxAbs : null,
    meanAbsError: m.meanAbs,
    relativeError: m.relativeError,
    maxRelativeError,
    warnings,
    ...(suggestion ? { suggestion } : {}),
    space: hasDecision ? 'probability' : 'value',
    decisionFlips: hasDecision ? m.decisionFlips : null,
    flipRate: hasDecision && m.decided ? m.decisionFlips / m.decided : null,
  };
}
