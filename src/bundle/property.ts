// Browser-safe: the property proof's document, its statement and the statement's hash
// (no node: imports).
import type { Groth16Proof, VerificationKey } from 'snarkjs';
import { canonicalJson } from '../core/canonical-json.ts';
import { type BundleModel, hexToField, type Sha256 } from './descriptor.ts';
import type { SetupProvenance } from './format.ts';
import { unusable } from './checks.ts';

export const PROPERTY_FORMAT = 'zkinfer.property-proof';
export const PROPERTY_VERSION = 1;

/** The public signals of a property proof, in order: both are constants of its circuit. */
export const PROPERTY_SIGNALS = ['modelCommitment', 'statement'] as const;

/**
 * What a property proof states about a private model's committed parameters. `features`
 * are the named input's positions in the flat input vector (a categorical input: all its
 * one-hot features).
 * - `unused`: every first-layer weight reading one of them is zero.
 * - `monotone`: the model is one dense layer with one output (a linear scorecard) and
 *   monotone layers after it; each weight of these features is >= 0 (`increasing`) or <= 0.
 */
export type PropertyStatement =
  { kind: 'unused'; input: string; features: number[] } | { kind: 'monotone'; input: string; direction: 'increasing' | 'decreasing'; features: number[] };

/** A self-contained property proof. */
export interface PropertyBundle {
  format: typeof PROPERTY_FORMAT;
  version: typeof PROPERTY_VERSION;
  createdAt: string;
  /** The model descriptor and its commitment (public signal 0), as in a decision bundle. */
  model: BundleModel;
  statement: PropertyStatement;
  proof: Groth16Proof;
  /** [model commitment, statement hash]. */
  publicSignals: string[];
  vkeyHash: string;
  verificationKey: VerificationKey;
  /** What the prover says about its setup (claimed, not checked). */
  setup: SetupProvenance;
  /** Constraints of the property circuit. */
  constraints: number;
}

/** Public signal 1: top 248 bits of sha256 of the statement's canonical JSON. */
export async function statementHash(s: PropertyStatement, sha256: Sha256): Promise<bigint> {
  return hexToField(await sha256(canonicalJson(s)));
}

/** The statement in words: "feature `gender` unused", "monotone increasing in `income`". */
export function describeStatement(s: PropertyStatement): string {
  return s.kind === 'unused' ? `feature \`${s.input}\` unused` : `monotone ${s.direction} in \`${s.input}\``;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isDecimal = (v: unknown) => typeof v === 'string' && /^(0|[1-9]\d*)$/.test(v);

function parseStatement(s: unknown): PropertyStatement {
  if (!isObject(s)) unusable('statement must be an object', 'statement');
  if (s.kind !== 'unused' && s.kind !== 'monotone') unusable('statement.kind must be "unused" or "monotone"', 'statement.kind');
  if (typeof s.input !== 'string' || s.input === '') unusable('statement.input must be an input name', 'statement.input');
  const f = s.features;
  if (!Array.isArray(f) || f.length === 0 || !f.every((i) => Number.isSafeInteger(i) && (i as number) >= 0))
    unusable('statement.features must be a non-empty list of feature positions', 'statement.features');
  if (s.kind === 'monotone' && s.direction !== 'increasing' && s.direction !== 'decreasing')
    unusable('statement.direction must be "increasing" or "decreasing"', 'statement.direction');
  const keys = s.kind === 'unused' ? ['kind', 'input', 'features'] : ['kind', 'input', 'direction', 'features'];
  const extra = Object.keys(s).find((k) => !keys.includes(k));
  if (extra !== undefined) unusable(`statement.${extra} is not a statement field`, `statement.${extra}`);
  return s as PropertyStatement;
}

/** Structural checks: a document that fails them cannot be verified at all (BUNDLE_INVALID). */
export function parsePropertyBundle(doc: unknown): PropertyBundle {
  if (!isObject(doc)) unusable('a property proof is a JSON object', 'bundle');
  if (doc.format !== PROPERTY_FORMAT) unusable(`format must be "${PROPERTY_FORMAT}"`, 'format');
  if (doc.version !== PROPERTY_VERSION) unusable(`this zkinfer reads property proofs of version ${PROPERTY_VERSION}`, 'version');
  if (!isObject(doc.model) || !isDecimal(doc.model.commitment)) unusable('model must be a descriptor with its commitment', 'model');
  parseStatement(doc.statement);
  if (!isObject(doc.proof)) unusable('proof must be an object', 'proof');
  if (!Array.isArray(doc.publicSignals) || !doc.publicSignals.every(isDecimal))
    unusable('publicSignals must be a list of decimal field elements', 'publicSignals');
  if (!isObject(doc.verificationKey) || !Array.isArray(doc.verificationKey.IC)) unusable('verificationKey is malformed', 'verificationKey');
  if (typeof doc.vkeyHash !== 'string') unusable('vkeyHash must be a string', 'vkeyHash');
  return doc as unknown as PropertyBundle;
}
