// What an audit replays: the compile options a published model descriptor states.
import { ZkinferError } from '../core/errors.ts';
import { type BundleModel, DESCRIPTOR_FORMAT, firstDifference, type ModelDescriptor } from '../bundle/descriptor.ts';
import { type InputQuant, MIN_INPUT_SCALE } from '../fixed/input-quant.ts';
import { activationBits, type QuantSettings, validateSettings } from '../fixed/settings.ts';
import type { ExplainSettings } from '../quant/explain.ts';

/** The compile options a descriptor fixes: with them, the same ONNX compiles to the same circuit. */
export interface DescriptorOptions {
  settings: QuantSettings;
  publicInput: boolean;
  /** Used as is (null: the settings' defaults), never recomputed from calibration rows. */
  inputQuant: InputQuant | null;
  /** Undefined: the descriptor has none (the model's own class labels, if any, would show up as a difference). */
  labels?: string[];
  /** Set when the descriptor is a private model's (its `parameters`): compiling it needs the blinding too. */
  visibility?: 'private';
  /** The reasons and fairness settings, replayed as they are (null: none). */
  explainSettings: ExplainSettings | null;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * The model descriptor a JSON document holds: a descriptor itself, a model record from
 * `GET /v1/models/{id}` (its `descriptor`, or with `version` that version's), or a proof
 * bundle (its `model`). `source` names the file in errors.
 */
export function descriptorIn(doc: unknown, source: string, version?: number): ModelDescriptor | BundleModel {
  const bad = (why: string, field = source) => new ZkinferError('INPUT_VALUE', `${source} ${why}`, field);
  if (!isObject(doc)) throw bad('is not a JSON object holding a model descriptor');
  const single = doc.format === DESCRIPTOR_FORMAT ? 'a descriptor' : isObject(doc.model) && doc.model.format === DESCRIPTOR_FORMAT ? 'a proof bundle' : null;
  if (single && version !== undefined) throw bad(`is ${single}, one version's: a version is picked from a model record (GET /v1/models/{id})`, 'model-version');
  if (doc.format === DESCRIPTOR_FORMAT) return doc as unknown as ModelDescriptor;
  if (isObject(doc.model) && doc.model.format === DESCRIPTOR_FORMAT) return doc.model as unknown as BundleModel;
  if (version !== undefined || (Array.isArray(doc.versions) && !isObject(doc.descriptor))) {
    const versions = Array.isArray(doc.versions) ? doc.versions.filter(isObject) : [];
    const v = version === undefined ? versions.filter((x) => x.status === 'ready').at(-1) : versions.find((x) => x.version === version);
    if (v && isObject(v.descriptor) && v.descriptor.format === DESCRIPTOR_FORMAT) return v.descriptor as unknown as BundleModel;
    if (version !== undefined)
      throw bad(`has no descriptor for version ${version} (versions: ${versions.map((x) => String(x.version)).join(', ') || 'none'})`, 'versions');
  }
  if (isObject(doc.descriptor) && doc.descriptor.format === DESCRIPTOR_FORMAT) return doc.descriptor as unknown as BundleModel;
  if ('status' in doc && 'versions' in doc)
    throw bad(`is a model record without a descriptor (status ${String(doc.status)}): the model has no ready key version yet`, 'descriptor');
  throw bad(`holds no model descriptor (format "${DESCRIPTOR_FORMAT}"): give a descriptor, a model record from GET /v1/models/{id}, or a proof bundle`);
}

/**
 * The compile options a descriptor states, checked to be usable (integers where the
 * compiler takes integers, ranges it can size): a descriptor is replayed, never trusted,
 * so a field it cannot compile with is an error naming it, and one it can but that was
 * edited makes another circuit, which the audit's links then show.
 */
export function descriptorOptions(d: ModelDescriptor, source: string): DescriptorOptions {
  const bad = (field: string, why: string) => new ZkinferError('INPUT_VALUE', `${source}: the descriptor's ${field} ${why}`, field);
  const int = (v: unknown) => typeof v === 'number' && Number.isInteger(v);
  if (!isObject(d.settings) || !int(d.settings.scaleBits) || !int(d.settings.bits)) throw bad('settings', 'must be {scaleBits, bits}, whole numbers');
  let settings: QuantSettings;
  try {
    settings = validateSettings({ scaleBits: d.settings.scaleBits, bits: d.settings.bits });
  } catch (e) {
    throw bad('settings', `are not usable: ${(e as Error).message}`);
  }
  if (typeof d.publicInput !== 'boolean') throw bad('publicInput', 'must be true or false');
  let inputQuant: InputQuant | null = null;
  if (d.inputQuant !== undefined) {
    const q = d.inputQuant as unknown;
    if (!isObject(q)) throw bad('inputQuant', 'must be an object {scaleBits, bits, lo, hi}');
    const n = Array.isArray(q.scaleBits) ? q.scaleBits.length : -1;
    for (const k of ['scaleBits', 'bits', 'lo', 'hi'] as const) {
      const a = q[k];
      if (!Array.isArray(a) || a.length !== n || n === 0)
        throw bad(`inputQuant.${k}`, 'must be an array with one number per input feature, as long as inputQuant.scaleBits');
      const at = a.findIndex((x) => (k === 'lo' || k === 'hi' ? typeof x !== 'number' || !Number.isFinite(x) : !int(x)));
      if (at >= 0) throw bad(`inputQuant.${k}[${at}]`, k === 'lo' || k === 'hi' ? 'must be a finite number' : 'must be a whole number');
    }
    const w = activationBits(settings);
    const s = q.scaleBits as number[];
    const b = q.bits as number[];
    const lo = q.lo as number[];
    const hi = q.hi as number[];
    for (let i = 0; i < n; i++) {
      if (s[i] < MIN_INPUT_SCALE || s[i] > settings.scaleBits)
        throw bad(`inputQuant.scaleBits[${i}]`, `must be from ${MIN_INPUT_SCALE} to the model's scale ${settings.scaleBits} (got ${s[i]})`);
      if (b[i] < 1 || b[i] > w) throw bad(`inputQuant.bits[${i}]`, `must be from 1 to the activation width ${w} (got ${b[i]})`);
      if (lo[i] > hi[i]) throw bad(`inputQuant.lo[${i}]`, `is above inputQuant.hi[${i}]`);
    }
    // The field order inputQuantOf produces: the model id hashes this object's JSON.
    inputQuant = { scaleBits: [...s], bits: [...b], lo: [...lo], hi: [...hi] };
  }
  let labels: string[] | undefined;
  if (d.labels !== undefined) {
    if (!Array.isArray(d.labels) || d.labels.length === 0 || d.labels.some((l) => typeof l !== 'string')) throw bad('labels', 'must be an array of strings');
    labels = [...d.labels];
  }
  if (d.parameters !== undefined) {
    const p = d.parameters as unknown;
    if (!isObject(p) || p.visibility !== 'private' || typeof p.commitment !== 'string' || !/^\d{1,78}$/.test(p.commitment) || !int(p.count))
      throw bad('parameters', 'must be {visibility: "private", commitment: "<decimal>", count: <whole number>}');
  }
  let explainSettings: ExplainSettings | null = null;
  if (d.explain !== undefined) {
    const e = d.explain as unknown;
    const feats = isObject(e) && Array.isArray(e.features) ? e.features : null;
    if (
      !isObject(e) ||
      !int(e.reasons) ||
      !feats ||
      feats.some((f) => !isObject(f) || typeof f.name !== 'string' || !int(f.start) || !int(f.size)) ||
      !Array.isArray(e.baseline) ||
      e.baseline.some((v) => typeof v !== 'number' || !Number.isFinite(v)) ||
      !Array.isArray(e.protected) ||
      e.protected.some((p) => !isObject(p) || typeof p.feature !== 'string' || !Array.isArray(p.values))
    )
      throw bad('explain', 'must be {reasons, features: [{name, start, size}], baseline: [numbers], protected: [{feature, values}]}');
    explainSettings = JSON.parse(JSON.stringify(e)) as ExplainSettings;
  }
  return {
    explainSettings,
    settings,
    publicInput: d.publicInput,
    inputQuant,
    ...(labels ? { labels } : {}),
    ...(d.parameters !== undefined ? { visibility: 'private' as const } : {}),
  };
}

/** Every top-level field where two descriptors differ, each at its first differing path ("labels[0]", "inputQuant.bits[3]"). */
export function descriptorDifferences(ours: ModelDescriptor, theirs: unknown): string[] {
  if (!isObject(theirs)) return ['(root)'];
  const keys = [...new Set([...Object.keys(ours), ...Object.keys(theirs)])].filter((k) => k !== 'commitment').sort();
  const out: string[] = [];
  for (const k of keys) {
    const d = firstDifference((ours as unknown as Record<string, unknown>)[k], theirs[k], k);
    if (d !== null) out.push(d);
  }
  return out;
}

/** Why a difference at a derived field matters: the fields it covers, which an edit of those changes. */
export function differenceHint(fields: string[]): string {
  const hints: string[] = [];
  if (fields.includes('id'))
    hints.push(
      'the id is the hash of the ONNX bytes with the settings, publicInput, inputQuant, labels and explain: one of those was changed, or this is another model',
    );
  if (fields.some((f) => f === 'parameters' || f.startsWith('parameters.')))
    hints.push(
      "the file's quantized parameters, with this blinding, do not hash to the descriptor's parameter commitment: " +
        'other parameters, another blinding, or a public model compared with a private one',
    );
  if (fields.includes('circuitHash')) hints.push('the circuit compiled from these settings and inputQuant is not the one the descriptor names');
  return hints.length ? ` (${hints.join('; ')})` : '';
}
