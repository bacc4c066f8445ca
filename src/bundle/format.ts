// Browser-safe: the proof bundle's and the receipt's document identifiers and types, which
// the verification page checks too (no node: imports).
import type { Groth16Proof, VerificationKey } from 'snarkjs';
import type { BundleModel } from './descriptor.ts';

export const BUNDLE_FORMAT = 'zkinfer.proof-bundle';
/**
 * 3: `model` is the model descriptor whose hash is the model commitment (public signal 0).
 * 2: outputs (and public features) packed into fewer public signals. 1: one signal per value.
 */
export const BUNDLE_VERSION = 3;
export const RECEIPT_FORMAT = 'zkinfer.receipt';

/** Where a powers-of-tau file comes from: a public ceremony, the operator's own pinned file, or a development file. */
export type PtauKind = 'ceremony' | 'operator-pinned' | 'development';

/** Where a setup came from: enough for a verifier to judge how far to trust it. */
export interface SetupProvenance {
  /** True when the powers of tau were generated locally (development only). */
  insecure: boolean;
  ptau: { kind: PtauKind; name: string; power: number; sha256: string };
  /** Phase-2 transcript: each contribution's hash, in order. */
  phase2: { name: string; hash: string }[];
  circuitHash: string;
  r1csSha256: string;
  wasmSha256: string;
  zkeySha256: string;
  vkeySha256: string;
  createdAt: string;
  /** Set when the key came from a REST ceremony: who contributed what, and the beacon. */
  ceremony?: CeremonyProvenance;
}

/** A REST ceremony's record in a version's provenance (the key's own chain is what `zkinfer audit` checks). */
export interface CeremonyProvenance {
  baseSha256: string;
  contributions: { index: number; name: string; hash: string; uploadedBy: string; createdAt: string }[];
  beacon: { hash: string; iterationsExp: number; contributionHash: string };
}

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
  /**
   * The proven principal reasons (a model with `explain.reasons`), most lowering first: the
   * feature, its index in `explain.features`, and its contribution to the score (score units;
   * the integer at the output scale as `contributionInteger`).
   */
  reasons?: { feature: string; index: number; contribution: number; contributionInteger: string }[];
  /** Per protected feature (a model with `explain.protected`): true when the proven decision is the same for each test value. */
  fairness?: { feature: string; unchanged: boolean }[];
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
