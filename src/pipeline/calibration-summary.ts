import { calibratedRanges, type InputQuant, oneHotGroups, TAIL_MARGIN } from '../fixed/input-quant.ts';
import type { ModelIR } from '../model/index.ts';
import type { FidelityHints } from '../quant/fidelity.ts';

/** What calibration made of each feature's data, for the compile output. */
export interface CalibrationSummary {
  rows: number;
  /** Flat features with a calibrated range (not declared with --input-range, not one-hot). */
  features: { name: string; observed: [number, number]; range: [number, number]; truncated?: { side: 'max' | 'min'; rows: number } }[];
  /** Features whose data look truncated: their real range should be declared. */
  warnings: string[];
}

/**
 * Each calibrated feature's observed and widened range (TAIL_MARGIN), and a warning for each
 * that looks truncated. With `stored` (the quantization an upload fixed), only the features
 * whose stored range is the one these rows give (not declared, not sized from other rows).
 */
export function calibrationSummary(
  ir: Pick<ModelIR, 'inputs' | 'inputSize'>,
  rows: ArrayLike<number>[],
  declared: Record<string, unknown>,
  hints: FidelityHints,
  stored: InputQuant | null = null,
): CalibrationSummary {
  const ranges = calibratedRanges(rows, ir.inputSize);
  const oneHot = new Set(oneHotGroups(ir.inputs).flatMap((g) => Array.from({ length: g.size }, (_, k) => g.start + k)));
  const features: CalibrationSummary['features'] = [];
  const warnings: string[] = [];
  for (const inp of ir.inputs) {
    if (declared[inp.name] !== undefined) continue;
    for (let k = 0; k < inp.size; k++) {
      const i = inp.offset + k;
      if (oneHot.has(i)) continue;
      const c = ranges[i];
      // A quantization fixed earlier (a service upload, from all its rows and declared ranges): only the features these rows sized.
      if (stored && (stored.lo[i] !== c.lo || stored.hi[i] !== c.hi)) continue;
      const name = inp.size === 1 ? inp.name : `${inp.name}[${k}]`;
      features.push({ name, observed: [c.observedLo, c.observedHi], range: [c.lo, c.hi], ...(c.truncated ? { truncated: c.truncated } : {}) });
      if (!c.truncated) continue;
      const bound = c.truncated.side === 'max' ? c.observedHi : c.observedLo;
      warnings.push(
        `${name}: ${c.truncated.rows} of ${rows.length} calibration rows are at the ${c.truncated.side === 'max' ? 'largest' : 'smallest'} value ` +
          `${bound}: the data look truncated there, so the range [${fmt(c.lo)}, ${fmt(c.hi)}] (widened by the tail margin ${TAIL_MARGIN}) ` +
          `may still be short of real applicants: declare the real range with ${hints.declare(inp.name)}` +
          (inp.size > 1 ? ` (it applies to every element of ${inp.name})` : ''),
      );
    }
  }
  return { rows: rows.length, features, warnings };
}

/** A bound as a person reads it: at most 6 significant digits. */
function fmt(v: number): string {
  return String(Number(v.toPrecision(6)));
}
