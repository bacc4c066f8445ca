import type { QuantizedModel } from './quantize.ts';
import { activationBits } from '../fixed/settings.ts';
import { explainCount, explainWidth, topKBits } from '../fixed/explain-layout.ts';

export { explainCount, explainWidth, topKBits };
import { type InputSide, quantizeInput, runQuantized } from './reference.ts';
import { ZkinferError } from '../core/errors.ts';
import { canonicalJson } from '../core/canonical-json.ts';

/**
 * Proven reasons and fairness (issue: reasons and fairness), in the integers the circuit
 * holds. A model with an `ExplainSpec` proves, besides its outputs:
 * - reasons: each feature's contribution, the change in the score when that feature alone
 *   is set to its baseline (occlusion), c_i = score(x) - score(x with feature i at its
 *   baseline), and the `reasons` features whose contributions are lowest (those that
 *   lowered the score most), in ascending order, ties broken by the lower feature index;
 * - fairness: per protected feature, whether the decision stays the same with the feature
 *   replaced by each of its test values.
 * The score is the model's single output (a logit for a sigmoid head), or the decided
 * class's output for a softmax or argmax head.
 */
export interface ExplainSpec {
  /** How many reasons are proven (0: none). */
  reasons: number;
  /** The features reasons rank: input slots [start, start + size) (a categorical column's one-hot slots move together). */
  features: ExplainFeature[];
  /** The baseline of every input slot, quantized as the input is. */
  baseline: bigint[];
  /** Protected features (an index into `features`) and their test values, each the feature's slots quantized. */
  protected: { feature: number; values: bigint[][] }[];
}

export interface ExplainFeature {
  name: string;
  start: number;
  size: number;
}

/** What a proof with reasons or fairness shows besides the outputs (integers at the model's output scale). */
export interface ExplainResult {
  /** The selected features (indices into `features`) with their contributions, most lowering first. */
  reasons: { feature: number; contribution: bigint }[];
  /** Per protected feature: true when the decision is the same for every test value. */
  fair: boolean[];
}

/** The model's score: its one output, or the decided class's. */
function scoreOf(q: QuantizedModel, output: bigint[], decision: bigint[]): bigint {
  return q.outputSize === 1 ? output[0] : output[Number(decision[0])];
}

/** The input with feature f's slots replaced by `values`. */
export function replaced(input: readonly bigint[], f: ExplainFeature, values: readonly bigint[]): bigint[] {
  const out = [...input];
  for (let k = 0; k < f.size; k++) out[f.start + k] = values[k];
  return out;
}

/** The integer reference of the explanation: what the circuit's witness must contain. */
export function explainReference(q: QuantizedModel, spec: ExplainSpec, input: readonly bigint[]): ExplainResult {
  const main = runQuantized(q, input);
  const score = scoreOf(q, main.output, main.decision);
  const contributions = spec.features.map((f) => {
    const occ = runQuantized(q, replaced(input, f, spec.baseline.slice(f.start, f.start + f.size)));
    // The circuit's score of a copy is the output of the class the model itself decided.
    return score - scoreOf(q, occ.output, main.decision);
  });
  const order = contributions.map((c, i) => ({ c, i })).sort((a, b) => (a.c < b.c ? -1 : a.c > b.c ? 1 : a.i - b.i));
  const reasons = order.slice(0, spec.reasons).map((e) => ({ feature: e.i, contribution: e.c }));
  const fair = spec.protected.map((p) =>
    p.values.every((v) => {
      const d = runQuantized(q, replaced(input, spec.features[p.feature], v)).decision;
      return d.every((x, t) => x === main.decision[t]);
    }),
  );
  return { reasons, fair };
}

/** The explanation's non-linear constraint count, besides its copies of the model core. */
export function explainOverhead(
  spec: { reasons: number; features: unknown[]; protected: { values: unknown[] }[] },
  q: Pick<QuantizedModel, 'outputSize' | 'head' | 'settings'>,
  decisionSize: number,
) {
  const n = spec.features.length;
  const k = spec.reasons;
  const multi = q.outputSize > 1;
  const B = topKBits(n, activationBits(q.settings));
  const copies = (k > 0 ? n : 0) + spec.protected.reduce((a, p) => a + p.values.length, 0);
  // The decided class's one-hot (M booleans) and its score in the model and in each reasons copy (M products each).
  const score = k > 0 && multi ? q.outputSize * (2 + n) : 0;
  const topk = k > 0 ? 2 * k * n + (k - 1) * B + n * (B + 1) : 0;
  const same = q.head === 'sigmoid' ? decisionSize + 2 : 4;
  const fairness = spec.protected.reduce((a, p) => a + p.values.length * same + 2, 0);
  return { copies, constraints: score + topk + fairness };
}

/**
 * A model's reasons and fairness settings as its descriptor holds them (raw units, by name):
 * what a verifier needs to recompute the circuit and to read the proven values.
 */
export interface ExplainSettings {
  /** How many reasons each proof names (0: none). */
  reasons: number;
  /** The features reasons rank, in order: a proven reason is an index into this list. */
  features: ExplainFeature[];
  /** Each input slot's baseline, raw units (a categorical column's one-hot); empty without reasons. */
  baseline: number[];
  /** Protected features (by name, one of `features`) and the values each is tested at: numbers, or a categorical column's categories. */
  protected: { feature: string; values: (number | string)[] }[];
}

/** What a user asks for (CLI flags, upload fields). */
export interface ExplainOptions {
  /** Reasons to prove (k); 0 or absent: none. */
  reasons?: number;
  /** The baseline, as an input is given (parsed by the caller): raw units per slot. Default: the calibration rows' mean. */
  baseline?: ArrayLike<number>;
  /** Protected features by name, with the values to test (a categorical column: all its categories when none are given). */
  protected?: { name: string; values?: (number | string)[] }[];
}

const NUMBER = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;

/**
 * Protected features as written on the command line and in an upload (`name` or
 * `name=v1,v2`; several in one string separated by `;`): numbers where they read as
 * numbers, else categories. Shared by `--protected` and the REST field `protected`.
 */
export function protectedFrom(specs: readonly string[]): { name: string; values?: (number | string)[] }[] {
  return specs
    .flatMap((s) => s.split(';'))
    .filter((s) => s.trim() !== '')
    .map((spec) => {
      const at = spec.indexOf('=');
      const name = (at < 0 ? spec : spec.slice(0, at)).trim();
      if (!name) throw new ZkinferError('SETTINGS', `protected must look like name or name=v1,v2 (got "${spec.slice(0, 64)}")`, 'protected');
      if (at < 0) return { name };
      const values = spec
        .slice(at + 1)
        .split(',')
        .map((v) => v.trim())
        .filter((v) => v !== '')
        .map((v) => (NUMBER.test(v) ? Number(v) : v));
      return { name, values };
    });
}

/** At most this many reasons per proof. */
export const MAX_REASONS = 16;
/** At most this many protected test values in all (each is a copy of the model in the circuit). */
export const MAX_PROTECTED_VALUES = 64;

type InputLike = { name: string; offset: number; size: number; categories?: (string[] | null)[] };

/** The features of a model's inputs: each numeric element its own, each categorical column one (its one-hot slots). */
export function explainFeatures(inputs: readonly InputLike[]): ExplainFeature[] {
  const out: ExplainFeature[] = [];
  for (const inp of inputs) {
    if (inp.categories) {
      let k = inp.offset;
      inp.categories.forEach((cats, j) => {
        const name = inp.categories!.length === 1 ? inp.name : `${inp.name}[${j}]`;
        out.push({ name, start: k, size: cats ? cats.length : 1 });
        k += cats ? cats.length : 1;
      });
    } else for (let k = 0; k < inp.size; k++) out.push({ name: inp.size === 1 ? inp.name : `${inp.name}[${k}]`, start: inp.offset + k, size: 1 });
  }
  return out;
}

/** The categories of feature f when it is a categorical column, else null. */
export function featureCategories(inputs: readonly InputLike[], f: ExplainFeature): string[] | null {
  for (const inp of inputs) {
    if (!inp.categories) continue;
    let k = inp.offset;
    for (const cats of inp.categories) {
      if (k === f.start && cats && cats.length === f.size) return cats;
      k += cats ? cats.length : 1;
    }
  }
  return null;
}

/** A test value of feature f in raw units per slot: a category's one-hot, or the number. */
function valueSlots(inputs: readonly InputLike[], f: ExplainFeature, v: number | string): number[] {
  const cats = featureCategories(inputs, f);
  if (cats) {
    const key = typeof v === 'number' && Number.isInteger(v) ? String(v) : v;
    const idx = cats.indexOf(String(key));
    if (idx < 0) throw new ZkinferError('SETTINGS', `protected feature ${f.name}: "${String(v).slice(0, 40)}" is not one of its categories`, 'protected');
    return cats.map((_, c) => (c === idx ? 1 : 0));
  }
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new ZkinferError('SETTINGS', `protected feature ${f.name}: its test values must be numbers`, 'protected');
  return [v];
}

/**
 * Checks and completes what a user asked for against the model (its inputs, head and
 * calibration rows): the descriptor's `explain`, or null when nothing was asked.
 */
export function explainSettingsOf(
  opts: ExplainOptions | undefined,
  m: { inputs: readonly InputLike[]; inputSize: number; outputSize: number; head: string },
  calibration?: readonly ArrayLike<number>[],
): ExplainSettings | null {
  const k = opts?.reasons ?? 0;
  const prot = opts?.protected ?? [];
  if (k === 0 && prot.length === 0) return null;
  const features = explainFeatures(m.inputs);
  if (!Number.isInteger(k) || k < 0 || k > Math.min(MAX_REASONS, features.length))
    throw new ZkinferError(
      'SETTINGS',
      `reasons must be an integer from 1 to ${Math.min(MAX_REASONS, features.length)} (the model's features, at most ${MAX_REASONS})`,
      'reasons',
    );
  if (k > 0 && m.outputSize !== 1 && m.head !== 'softmax' && m.head !== 'argmax')
    throw new ZkinferError(
      'SETTINGS',
      'reasons rank what moves the score: this model has several outputs and no softmax or argmax head to pick one',
      'reasons',
    );
  const decides = m.head === 'sigmoid' || m.head === 'softmax' || m.head === 'argmax';
  if (prot.length > 0 && !decides)
    throw new ZkinferError('SETTINGS', 'fairness compares decisions: this model has no sigmoid, softmax or argmax head', 'protected');
  let baseline: number[] = [];
  if (k > 0) {
    if (opts?.baseline) baseline = Array.from(opts.baseline);
    else if (calibration && calibration.length > 0) baseline = meanBaseline(features, calibration, m);
    else
      throw new ZkinferError(
        'SETTINGS',
        'reasons need a baseline to compare each feature with: give a baseline or calibration rows (their mean is the default)',
        'baseline',
      );
    if (baseline.length !== m.inputSize || baseline.some((v) => !Number.isFinite(v)))
      throw new ZkinferError('SETTINGS', `the baseline needs ${m.inputSize} finite value(s), one per input slot`, 'baseline');
  }
  const seen = new Set<string>();
  let total = 0;
  const protectedOut = prot.map((p) => {
    const f = features.find((e) => e.name === p.name);
    if (!f)
      throw new ZkinferError(
        'SETTINGS',
        `protected feature "${String(p.name).slice(0, 64)}" is not a feature of this model (${features
          .map((e) => e.name)
          .join(', ')
          .slice(0, 300)})`,
        'protected',
      );
    if (seen.has(f.name)) throw new ZkinferError('SETTINGS', `protected feature ${f.name} is named twice`, 'protected');
    seen.add(f.name);
    const cats = featureCategories(m.inputs, f);
    const values = p.values && p.values.length > 0 ? p.values : cats;
    if (!values) throw new ZkinferError('SETTINGS', `protected feature ${f.name} is numeric: give the values to test (name=v1,v2)`, 'protected');
    for (const v of values) valueSlots(m.inputs, f, v);
    if (new Set(values.map(String)).size !== values.length)
      throw new ZkinferError('SETTINGS', `protected feature ${f.name}: a test value is given twice`, 'protected');
    total += values.length;
    return { feature: f.name, values: [...values] };
  });
  if (total > MAX_PROTECTED_VALUES)
    throw new ZkinferError(
      'SETTINGS',
      `at most ${MAX_PROTECTED_VALUES} protected test values in all (each is a copy of the model in the circuit)`,
      'protected',
    );
  return { reasons: k, features, baseline, protected: protectedOut };
}

/** The calibration rows' mean per numeric slot; a categorical column's most frequent category. */
function meanBaseline(features: ExplainFeature[], rows: readonly ArrayLike<number>[], m: { inputs: readonly InputLike[]; inputSize: number }): number[] {
  const out = new Array<number>(m.inputSize).fill(0);
  for (const f of features) {
    if (featureCategories(m.inputs, f)) {
      const counts = new Array<number>(f.size).fill(0);
      for (const r of rows) for (let c = 0; c < f.size; c++) counts[c] += r[f.start + c];
      const best = counts.indexOf(Math.max(...counts));
      for (let c = 0; c < f.size; c++) out[f.start + c] = c === best ? 1 : 0;
    } else {
      let sum = 0;
      for (const r of rows) sum += r[f.start];
      out[f.start] = sum / rows.length;
    }
  }
  return out;
}

/** The quantized spec the circuit is generated from: baseline and test values quantized as an input is (in range, or a SETTINGS error). */
export function explainSpecOf(s: ExplainSettings, q: InputSide & { inputs: readonly InputLike[] }): ExplainSpec {
  const quantize = (v: number[], field: string, what: string) => {
    try {
      return quantizeInput(q, v);
    } catch (e) {
      if (e instanceof ZkinferError) throw new ZkinferError('SETTINGS', `${what}: ${e.message}`, field);
      throw e;
    }
  };
  const baseline = s.reasons > 0 ? quantize(s.baseline, 'baseline', 'the baseline') : [];
  // A test value is quantized in place of the feature in an otherwise neutral vector (zeros, or each column's first category).
  const neutral = explainFeatures(q.inputs).flatMap((f) =>
    featureCategories(q.inputs, f) ? Array.from({ length: f.size }, (_, c) => (c === 0 ? 1 : 0)) : [0],
  );
  const features = s.features;
  return {
    reasons: s.reasons,
    features,
    baseline,
    protected: s.protected.map((p) => {
      const fi = features.findIndex((f) => f.name === p.feature);
      if (fi < 0) throw new ZkinferError('SETTINGS', `protected feature ${p.feature} is not a feature of this model`, 'protected');
      const f = features[fi];
      return {
        feature: fi,
        values: p.values.map((v) => {
          const x = [...neutral];
          valueSlots(q.inputs, f, v).forEach((e, c) => (x[f.start + c] = e));
          return quantize(x, 'protected', `protected feature ${f.name}`).slice(f.start, f.start + f.size);
        }),
      };
    }),
  };
}

/** The values the circuit packs into `packedExplain`: the reasons' feature indices, their contributions, the fairness bits. */
export function explainValues(r: ExplainResult): bigint[] {
  return [...r.reasons.map((e) => BigInt(e.feature)), ...r.reasons.map((e) => e.contribution), ...r.fair.map((b) => (b ? 1n : 0n))];
}

/**
 * Checks settings replayed from a descriptor against the model: they must be exactly what
 * `explainSettingsOf` makes of them (the model's own features, usable values), so an edited
 * descriptor is an error naming the field rather than a circuit of unchecked copies.
 */
export function checkExplainSettings(s: ExplainSettings, m: Parameters<typeof explainSettingsOf>[1]): ExplainSettings {
  const again = explainSettingsOf({ reasons: s.reasons, baseline: s.baseline, protected: s.protected.map((p) => ({ name: p.feature, values: p.values })) }, m);
  const features = explainFeatures(m.inputs);
  if (canonicalJson(features) !== canonicalJson(s.features))
    throw new ZkinferError(
      'SETTINGS',
      "explain.features are not this model's features (one per numeric input element, one per categorical column)",
      'explain.features',
    );
  if (!again || canonicalJson(again) !== canonicalJson(s)) throw new ZkinferError('SETTINGS', 'explain is not usable with this model as it stands', 'explain');
  return s;
}
