// Browser-safe: how every verifier (CLI, REST, the page, the receipt) words proven reasons and fairness.
import type { DecodedOutputs } from './format.ts';
import type { ModelDescriptor } from './descriptor.ts';

/** A contribution as shown: score units, 4 significant decimals, signed. */
export function contributionText(c: number): string {
  const v = Number(c.toFixed(4));
  return v > 0 ? `+${v}` : String(v);
}

/** "Principal reasons: 1. debt_to_income (-0.21), 2. ...", or null when the proof has none. */
export function reasonsLine(o: Pick<DecodedOutputs, 'reasons'>): string | null {
  if (!o.reasons || o.reasons.length === 0) return null;
  return `Principal reasons: ${o.reasons.map((r, i) => `${i + 1}. ${r.feature} (${contributionText(r.contribution)})`).join(', ')}`;
}

/** "Decision unchanged for every value of: gender, age_band" and/or "Decision CHANGED by: ...", or [] without fairness. */
export function fairnessLines(o: Pick<DecodedOutputs, 'fairness'>, m: Pick<ModelDescriptor, 'explain'> | null): string[] {
  if (!o.fairness || o.fairness.length === 0) return [];
  const tested = (f: string) =>
    m?.explain?.protected
      .find((p) => p.feature === f)
      ?.values.map(String)
      .join(', ');
  const same = o.fairness.filter((f) => f.unchanged).map((f) => f.feature);
  const changed = o.fairness.filter((f) => !f.unchanged).map((f) => `${f.feature} (tested: ${tested(f.feature) ?? '?'})`);
  return [
    ...(same.length ? [`Decision unchanged for every value of: ${same.join(', ')}`] : []),
    ...(changed.length ? [`Decision CHANGES with the value of: ${changed.join('; ')}`] : []),
  ];
}

/** What the reasons mean, for a reader: the score, the baseline, the sign. */
export const REASONS_NOTE =
  "each reason's number is the change in the model's score (its logit, for a sigmoid head) when that feature alone is set to the " +
  "model's published baseline; negative: the applicant's value lowered the score";
