// Browser-safe: every verifier (CLI, REST, the page, the on-chain registry check)
// recomputes the model commitment from a bundle's descriptor with this code.
import { canonicalJson } from '../core/canonical-json.ts';
import type { Head } from '../model/ir.ts';
import type { QuantSettings } from '../fixed/settings.ts';
import type { ExplainSettings } from '../quant/explain.ts';

/** sha256 of a string's UTF-8 bytes, as lowercase hex (node:crypto in Node, crypto.subtle in the browser). */
export type Sha256 = (text: string) => string | Promise<string>;

export const DESCRIPTOR_FORMAT = 'zkinfer.model-descriptor';

/**
 * Version of the circuit generator's output format. Raise it whenever the generated
 * circuit changes meaning for the same model (a new template, a new signal layout): a
 * new format is a new circuit hash, so a new model version with its own key.
 */
// 4: a per-feature input whose range starts at 0 is range-checked unsigned; categorical
// columns are checked one-hot; a first layer after narrow inputs rescales narrower.
export const CIRCUIT_FORMAT = 4;

/**
 * Everything a verifier uses to decode or display a proof of this model. Its canonical
 * hash *is* the model commitment (public signal 0, a constant of the circuit), so a
 * verifier that recomputes it knows that each field below is the one the circuit was
 * built with: none of it is taken on the bundle's word.
 */
export interface ModelDescriptor {
  format: typeof DESCRIPTOR_FORMAT;
  /** sha256 of the ONNX bytes, external data and quantization settings: the model's id. */
  id: string;
  /** The circuit generator's format version (`CIRCUIT_FORMAT` when it was built). */
  circuitFormat: number;
  /**
   * sha256 of the compiler version, the circuit templates and the generated proof
   * circuit with its model-commitment constant left out (it cannot hash itself).
   */
  circuitHash: string;
  settings: QuantSettings;
  /**
   * The graph inputs in order: name and flat size (features the circuit takes). An input
   * with categorical columns lists each column's ordered categories (null: a numeric
   * column): a category is given by name, and the circuit takes and commits to its one-hot
   * vector in this order (size counts those features); an unknown category is refused. An
   * input with imputed columns lists each column's value (raw units) for a missing entry
   * (null: it may not be missing), substituted before quantization.
   */
  inputs: { name: string; size: number; categories?: (string[] | null)[]; unknownCategory?: 'refused'; missing?: (number | null)[] }[];
  outputSize: number;
  decisionSize: number;
  head: Head;
  /** True when the quantized input is in the public signals instead of a commitment. */
  publicInput: boolean;
  /** Bits per packed value (bits - scaleBits) and values per field element. */
  packing: { width: number; perElement: number };
  /**
   * Per-feature input quantization, when features are not all at the model's scale and
   * width: feature i is round(v * 2^scaleBits[i]), range-checked to bits[i] bits, signed,
   * or unsigned ([0, 2^bits[i])) when lo[i] >= 0; lo/hi is the range (real units) it was
   * sized for.
   */
  inputQuant?: { scaleBits: number[]; bits: number[]; lo: number[]; hi: number[] };
  /**
   * Names of the decisions: for a sigmoid head, [name of 0, name of 1] (the same for every
   * output); for a softmax head, one per class. Bound like every other field.
   */
  labels?: string[];
  /**
   * Present for a private model: its parameters are not in the circuit but a private
   * witness of every proof, and the circuit requires Poseidon over them and a secret
   * blinding value to equal `commitment` (decimal; a constant of the circuit, so every proof
   * under this key used the same parameters). `count` is how many field elements the
   * commitment hashes (the parameters, packed several to an element: src/layers/emit.ts `packSigned`). Absent: the
   * parameters are constants of the circuit (a public model).
   */
  parameters?: { visibility: 'private'; commitment: string; count: number };
  /**
   * Present when every proof also proves reasons and fairness (src/quant/explain.ts): how
   * many reasons, the features they rank (a reason is an index into `features`), each input
   * slot's baseline (raw units), and the protected features with their test values. The
   * proven values are the public signals `packedExplain`.
   */
  explain?: ExplainSettings;
}

/** How a proven decision reads: the model's label when it has one, else what the number means. */
export function decisionLabel(d: Pick<ModelDescriptor, 'head' | 'labels'>, value: number): string {
  const label = d.labels?.[value];
  if (d.head === 'softmax' || d.head === 'argmax') return label !== undefined ? `class ${value}: ${label}` : `class ${value}`;
  const meaning = value === 1 ? 'positive (logit \u2265 0, probability \u2265 0.5)' : 'negative (logit < 0, probability < 0.5)';
  return label !== undefined ? `${value}: ${label} (${value === 1 ? 'logit \u2265 0' : 'logit < 0'})` : `${value}: ${meaning}`;
}

/** A descriptor plus its commitment (decimal): what a bundle's `model` holds. */
export type BundleModel = ModelDescriptor & {
  /** Public signal 0: top 248 bits of sha256(canonical descriptor). Checked, never trusted. */
  commitment: string;
};

/** The descriptor part of a bundle's model (every field except the commitment itself). */
export function descriptorOf(model: BundleModel | ModelDescriptor): ModelDescriptor {
  const { commitment: _c, ...rest } = model as BundleModel;
  return rest;
}

/** A sha256 hex digest as a field element: its top 248 bits, always below r. */
export function hexToField(hex: string): bigint {
  return BigInt('0x' + hex) >> 8n;
}

/** The model commitment of a descriptor: top 248 bits of sha256 of its canonical JSON. */
export async function descriptorCommitment(d: ModelDescriptor, sha256: Sha256): Promise<bigint> {
  return hexToField(await sha256(canonicalJson(descriptorOf(d))));
}

/**
 * The first field where two descriptors differ ("settings.bits", "inputs[2].name"), or
 * null when they are the same: lets a verifier holding the registered descriptor name
 * what was changed in a bundle.
 */
export function firstDifference(a: unknown, b: unknown, at = ''): string | null {
  if (a === b) return null;
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      const d = firstDifference(a[i], b[i], `${at}[${i}]`);
      if (d !== null) return d;
    }
    return null;
  }
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const k of keys) {
      const d = firstDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], at ? `${at}.${k}` : k);
      if (d !== null) return d;
    }
    return null;
  }
  return at || '(root)';
}
