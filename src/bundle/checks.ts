import { canonicalJson } from '../core/canonical-json.ts';
// Browser-safe: the structural checks on a proof bundle (its JSON Schema, and that its
// copies of proven values say what the public signals say), in Node and in the
// verification page (src/web). No node: imports here or in what this imports.
import { Ajv, type ErrorObject } from 'ajv';
import type { Groth16Proof } from 'snarkjs';
import { ZkinferError } from '../core/errors.ts';
import { signalLayout, signalNames } from './decode.ts';
import { BUNDLE_VERSION, type DecodedOutputs, type ProofBundle } from './format.ts';
import bundleSchema from '../../schemas/proof-bundle.schema.json' with { type: 'json' };

const schema: object = bundleSchema;
const validate = new Ajv({ strict: false, validateFormats: false }).compile(schema);

/** ajv's message, with the expected value where ajv leaves it out. */
function describe(err: ErrorObject | undefined): string {
  if (!err) return 'is invalid';
  if (err.keyword === 'const') return `must be ${JSON.stringify((err.params as { allowedValue: unknown }).allowedValue)}`;
  return err.message ?? 'is invalid';
}

/** Throws BUNDLE_INVALID: a document that cannot be checked at all. */
export function unusable(message: string, field: string): never {
  throw new ZkinferError('BUNDLE_INVALID', message, field);
}

/**
 * Structural checks against the bundle's JSON Schema: anything that fails here cannot
 * be verified at all (CLI exit 2, HTTP 400), as opposed to a proof that is wrong.
 */
export function parseBundle(doc: unknown): ProofBundle {
  const version = (doc as { version?: unknown } | null)?.version;
  if (
    doc &&
    typeof doc === 'object' &&
    (doc as { format?: unknown }).format === 'zkinfer.proof-bundle' &&
    typeof version === 'number' &&
    version !== BUNDLE_VERSION
  ) {
    unusable(
      `this is a version ${version} bundle; this zkinfer reads version ${BUNDLE_VERSION} (its model descriptor is bound ` +
        `to the model commitment); make the proof again with this zkinfer`,
      'version',
    );
  }
  if (!validate(doc)) {
    const err = validate.errors?.[0];
    const field = err?.instancePath ? err.instancePath.slice(1).replaceAll('/', '.') : 'bundle';
    if (field === 'version')
      unusable(
        `this is a version ${JSON.stringify((doc as { version?: unknown }).version)} bundle; this zkinfer reads version ` +
          `${BUNDLE_VERSION} (its model descriptor is bound to the model commitment); make the proof again with this zkinfer`,
        field,
      );
    unusable(`${field} ${describe(err)}`, field);
  }
  return doc as ProofBundle;
}

const partsSchema = {
  type: 'object',
  required: ['proof', 'publicSignals'],
  properties: {
    proof: (schema as { properties: Record<string, unknown> }).properties.proof,
    publicSignals: (schema as { properties: Record<string, unknown> }).properties.publicSignals,
  },
  definitions: (schema as { definitions: unknown }).definitions,
};
const validateParts = new Ajv({ strict: false }).compile(partsSchema);

/** Structural checks for a proof sent without its bundle (proof and public signals only). */
export function parseProofParts(doc: unknown): { proof: Groth16Proof; publicSignals: string[] } {
  if (!validateParts(doc)) {
    const err = validateParts.errors?.[0];
    const field = err?.instancePath ? err.instancePath.slice(1).replaceAll('/', '.') : 'body';
    unusable(`${field} ${describe(err)}`, field);
  }
  return doc as { proof: Groth16Proof; publicSignals: string[] };
}

/** Numbers equal as JSON, floats within a relative 1e-9 (Math.exp may differ in the last bit between engines). */
function sameNumbers(a: unknown, b: unknown): boolean {
  if (a === null || b === null) return a === b;
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
  return a.every((x, i) =>
    typeof x === 'number' && typeof b[i] === 'number' ? Math.abs(x - (b[i] as number)) <= 1e-9 * Math.max(1, Math.abs(x)) : x === b[i],
  );
}

/**
 * The bundle's copies of proven values (nonce, input commitment, decoded outputs, signal
 * names) must say what the public signals say: a reader of the JSON must not be told
 * something else than a verifier is. Returns the first copy that differs.
 */
export function checkCopies(b: ProofBundle, outputs: DecodedOutputs): { reason: string; field: string } | null {
  const L = signalLayout(b.model);
  const names = signalNames(b.model);
  if (b.signalNames.length !== names.length || b.signalNames.some((n, i) => n !== names[i]))
    return { reason: "signalNames are not the names of this model's public signals", field: 'signalNames' };
  if (b.nonce !== b.publicSignals[L.nonce]) return { reason: 'nonce is not the proven nonce (the last public signal)', field: 'nonce' };
  const ic = b.model.publicInput ? null : b.publicSignals[L.input];
  if (b.inputCommitment !== ic) return { reason: 'inputCommitment is not the proven input commitment (public signal 1)', field: 'inputCommitment' };
  for (const k of ['integers', 'values', 'decision', 'probability', 'inputs'] as const) {
    if (!sameNumbers(b.outputs[k], outputs[k])) return { reason: `outputs.${k} is not what the public signals hold`, field: `outputs.${k}` };
  }
  for (const k of ['reasons', 'fairness'] as const) {
    if (canonicalJson(b.outputs[k] ?? null) !== canonicalJson(outputs[k] ?? null))
      return { reason: `outputs.${k} is not what the public signals hold`, field: `outputs.${k}` };
  }
  return null;
}
