import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Groth16Proof, VerificationKey } from 'snarkjs';
import type { BundleModel } from './descriptor.ts';
import type { BUNDLE_FORMAT, BUNDLE_VERSION, RECEIPT_FORMAT } from './bundle-format.ts';
import type { SetupProvenance } from './setup.ts';

const require = createRequire(import.meta.url);

export { BUNDLE_FORMAT, BUNDLE_VERSION, RECEIPT_FORMAT } from './bundle-format.ts';

export type { BundleModel, ModelDescriptor } from './descriptor.ts';

export interface DecodedOutputs {
  /** Outputs (logits when head is sigmoid/softmax) as real numbers: integer / 2^scale. */
  values: number[];
  /** The same outputs as the signed integers the circuit holds. */
  integers: string[];
  /** Proven decision: 0/1 per output for a sigmoid head, the argmax index for softmax. */
  decision: number[] | null;
  /** Computed outside the proof from the proven logits; not itself proven. */
  probability: number[] | null;
  /** The proven input as real numbers, when the input is public; null otherwise. */
  inputs: number[] | null;
}

/** A self-contained, versioned proof document (JSON Schema: schemas/proof-bundle.schema.json). */
export interface ProofBundle {
  format: typeof BUNDLE_FORMAT;
  version: typeof BUNDLE_VERSION;
  createdAt: string;
  model: BundleModel;
  proof: Groth16Proof;
  /** Public signals in circuit order; `signalNames` names each one. */
  publicSignals: string[];
  /** Derived from the descriptor; a verifier checks these copies against it. */
  signalNames: string[];
  /** Copy of the last public signal, checked by verifiers. */
  nonce: string;
  /** Copy of public signal 1 (null when the input is public), checked by verifiers. */
  inputCommitment: string | null;
  /** Decoded from the public signals for reading; verifiers decode again and compare. */
  outputs: DecodedOutputs;
  vkeyHash: string;
  verificationKey: VerificationKey;
  /** What the prover says about its setup. Shown, if at all, as claimed: verifiers derive provenance from the key. */
  setup: SetupProvenance;
  tools: Record<string, string>;
}

/** The applicant's receipt: enough to recompute the input commitment from their own data. */
export interface Receipt {
  format: typeof RECEIPT_FORMAT;
  version: 1;
  modelId: string;
  inputCommitment: string;
  salt: string;
  scaleBits: number;
  /** Scale bits of each feature, when they differ from `scaleBits` (a model with per-feature input quantization). */
  featureScaleBits?: number[];
  /** Bit width of each quantized feature, which fixes how features are packed before hashing. */
  width: number;
  /** Quantized features (round(v * 2^scale)), in the model's input order. */
  features: string[];
  /**
   * The features as given, for the applicant's reading: numbers, a categorical column's
   * category (a string; `features` holds its one-hot vector), null for a missing value
   * (`features` holds the imputed one).
   */
  given: Record<string, number | string | null | (number | string | null)[]> | (number | string | null)[];
}

/** A dependency's root folder, found above its entry point (some packages do not export their package.json). */
export function packageDir(name: string): string | null {
  let dir = path.dirname(require.resolve(name));
  while (dir !== path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file) && (JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === name) return dir;
    dir = path.dirname(dir);
  }
  return null;
}

function packageVersion(name: string): string {
  const dir = packageDir(name);
  return dir ? ((JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown') : 'unknown';
}

let versions: Record<string, string> | undefined;

export function toolVersions(): Record<string, string> {
  versions ??= {
    zkinfer: (require('../../package.json') as { version: string }).version,
    snarkjs: packageVersion('snarkjs'),
    circom2: packageVersion('circom2'),
    circomlib: (require('circomlib/package.json') as { version: string }).version,
    node: process.versions.node,
  };
  return versions;
}
