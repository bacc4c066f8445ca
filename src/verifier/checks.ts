// Browser-safe: the checks every verifier runs, in Node (verify-bundle.ts) and in the
// verification page (src/web). No node: imports here or in what this imports.
import { Ajv, type ErrorObject } from 'ajv';
import * as snarkjs from 'snarkjs';
import type { Groth16Proof, VerificationKey } from 'snarkjs';
import { ZkinferError } from '../errors.ts';
import { BUNDLE_VERSION } from '../prover/bundle-format.ts';
import type { BundleModel, DecodedOutputs, ProofBundle } from '../prover/bundle.ts';
import type { SetupProvenance } from '../prover/setup.ts';
import { assertUsableVkey, type Sha256, vkeyHashText } from '../prover/vkey.ts';
import { BASE_FIELD_ORDER, FIELD_ORDER } from '../quant/field.ts';
import { decodeOutputs, signalLayout } from './decode.ts';
import bundleSchema from '../../schemas/proof-bundle.schema.json' with { type: 'json' };

export interface VerifyResult {
  valid: boolean;
  /** Why: "proof verifies" or the first check that failed. */
  reason: string;
  modelId: string;
  vkeyHash: string;
  /** Which key was used: one the caller supplied, or the one embedded in the bundle. */
  vkeySource: 'supplied' | 'bundle';
  outputs: DecodedOutputs | null;
  setup: SetupProvenance;
}

const schema: object = bundleSchema;
const validate = new Ajv({ strict: false, validateFormats: false }).compile(schema);

/** ajv's message, with the expected value where ajv leaves it out. */
function describe(err: ErrorObject | undefined): string {
  if (!err) return 'is invalid';
  if (err.keyword === 'const') return `must be ${JSON.stringify((err.params as { allowedValue: unknown }).allowedValue)}`;
  return err.message ?? 'is invalid';
}

function unusable(message: string, field: string): never {
  throw new ZkinferError('BUNDLE_INVALID', message, field);
}

/**
 * Structural checks against the bundle's JSON Schema: anything that fails here cannot
 * be verified at all (CLI exit 2, HTTP 400), as opposed to a proof that is wrong.
 */
export function parseBundle(doc: unknown): ProofBundle {
  if (!validate(doc)) {
    const err = validate.errors?.[0];
    const field = err?.instancePath ? err.instancePath.slice(1).replaceAll('/', '.') : 'bundle';
    if (field === 'version') unusable(`this is a version ${JSON.stringify((doc as { version?: unknown }).version)} bundle; this zkinfer reads version ${BUNDLE_VERSION} (outputs packed into fewer public signals)`, field);
    unusable(`${field} ${describe(err)}`, field);
  }
  return doc as ProofBundle;
}

const partsSchema = {
  type: 'object',
  required: ['proof', 'publicSignals'],
  properties: { proof: (schema as { properties: Record<string, unknown> }).properties.proof, publicSignals: (schema as { properties: Record<string, unknown> }).properties.publicSignals },
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

/**
 * The checks every verification makes, given the model's public description and a
 * usable key: canonical public signals, their number, the model commitment, then the
 * pairing.
 */
export async function checkProof(
  model: BundleModel,
  proof: Groth16Proof,
  publicSignals: string[],
  vkey: VerificationKey,
): Promise<{ valid: boolean; reason: string; outputs: DecodedOutputs | null }> {
  const fail = (reason: string) => ({ valid: false, reason, outputs: null });
  const nonCanonical = publicSignals.findIndex((s) => BigInt(s) >= FIELD_ORDER);
  if (nonCanonical >= 0) return fail(`publicSignals[${nonCanonical}] is not a canonical field element (>= r)`);
  const L = signalLayout(model);
  if (publicSignals.length !== L.count) return fail(`expected ${L.count} public signals for this model, found ${publicSignals.length}`);
  if (vkey.nPublic !== publicSignals.length) return fail(`the verification key expects ${vkey.nPublic} public signals, the proof has ${publicSignals.length}`);
  if (publicSignals[L.modelCommitment] !== model.commitment) return fail("the model commitment in the public signals is not the model's");
  // snarkjs reduces coordinates modulo q, the EVM's pairing precompile refuses them:
  // refuse here too, so a proof has one encoding and both verifiers agree.
  const coords = [proof.pi_a, proof.pi_b, proof.pi_c].flat(2).map(String);
  if (coords.some((c) => !/^[0-9]+$/.test(c) || BigInt(c) >= BASE_FIELD_ORDER)) return fail('the proof has a coordinate that is not a canonical base field element (>= q)');
  // Affine points only (z = 1): the on-chain calldata carries x and y alone.
  if (String(proof.pi_a[2]) !== '1' || String(proof.pi_c[2]) !== '1' || String(proof.pi_b[2]?.[0]) !== '1' || String(proof.pi_b[2]?.[1]) !== '0') {
    return fail('the proof points are not in affine form (z must be 1)');
  }
  let ok: boolean;
  try {
    ok = await snarkjs.groth16.verify(vkey, publicSignals, proof);
  } catch (e) {
    return fail(`the proof is malformed: ${(e as Error).message}`);
  }
  if (!ok) return fail('the pairing check failed: the proof does not match these public signals and key');
  return { valid: true, reason: 'proof verifies', outputs: decodeOutputs(model, publicSignals) };
}

/**
 * Verifies a proof bundle: its structure, the key (the supplied one, else the
 * embedded one) against the bundle's key hash, then `checkProof`. Returns valid=false
 * with a reason for a proof that is well formed but wrong; throws BUNDLE_INVALID for one
 * that cannot be checked and VKEY_REFUSED for a key that would accept forgeries.
 * `sha256` hashes the key: node:crypto in Node, crypto.subtle in the browser.
 */
export async function verifyBundleWith(doc: unknown, opts: { vkey?: unknown; sha256: Sha256 }): Promise<VerifyResult> {
  const b = parseBundle(doc);
  const vkeySource = opts.vkey ? 'supplied' : 'bundle';
  const vkey = (opts.vkey ?? b.verificationKey) as VerificationKey;
  if (!vkey || typeof vkey !== 'object' || !Array.isArray(vkey.IC)) unusable('verification key is malformed', 'vkey');
  assertUsableVkey(vkey);
  const hash = await opts.sha256(vkeyHashText(vkey));
  const base = { modelId: b.model.id, vkeyHash: hash, vkeySource, setup: b.setup } as const;
  const nonCanonical = b.publicSignals.findIndex((s) => BigInt(s) >= FIELD_ORDER);
  if (hash !== b.vkeyHash && nonCanonical < 0) {
    const reason = vkeySource === 'supplied' ? `the supplied verification key (${hash}) is not the one this bundle was made with (${b.vkeyHash})` : "the embedded verification key does not match the bundle's vkeyHash";
    return { valid: false, reason, outputs: null, ...base };
  }
  return { ...(await checkProof(b.model, b.proof, b.publicSignals, vkey)), ...base };
}
