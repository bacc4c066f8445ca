// Browser-safe: the proof checks every verifier runs, in Node (verify-bundle.ts) and in the
// verification page (src/web). No node: imports here or in what this imports.
import * as snarkjs from 'snarkjs';
import type { Groth16Proof, VerificationKey } from 'snarkjs';
import { ZkinferError } from '../core/errors.ts';
import { checkCopies, parseBundle, unusable } from '../bundle/checks.ts';
import type { DecodedOutputs } from '../bundle/format.ts';
import { type BundleModel, descriptorCommitment, descriptorOf, firstDifference, type ModelDescriptor, type Sha256 } from '../bundle/descriptor.ts';
import { type Phase1Identity, phase1Of } from '../prover/phase1.ts';
import type { SetupProvenance } from '../bundle/format.ts';
import { assertKeyOnCurve, assertUsableVkey, type Bn128, vkeyHashText } from '../prover/vkey.ts';
import { BASE_FIELD_ORDER, FIELD_ORDER } from '../fixed/field.ts';
import { decodeOutputs, signalLayout } from '../bundle/decode.ts';
import { judgeSetup, type SetupTrust } from './trust.ts';

export interface VerifyResult {
  valid: boolean;
  /** Why: "proof verifies" or the first check that failed. */
  reason: string;
  /** The bundle field (or key field) that failed a check; null when valid. */
  field: string | null;
  /** The proven model id (from the descriptor bound to public signal 0); null unless valid. */
  modelId: string | null;
  /** The proven model descriptor; null unless valid. */
  model: ModelDescriptor | null;
  vkeyHash: string;
  /** Which key was used: one the caller supplied, or the one embedded in the bundle. */
  vkeySource: 'supplied' | 'bundle';
  /** Phase 1 as far as a key alone can tell: "development", else "not checked" (only `zkinfer audit` with the ptau file establishes it). */
  phase1: Phase1Identity;
  /** The setup's trust as a key-only verifier sees it (never "trusted": that takes the ptau file). */
  trust: SetupTrust;
  /** Decoded from the proven public signals; null unless valid. */
  outputs: DecodedOutputs | null;
  /** Public signal 1 when the input is committed; null unless valid or when the input is public. */
  inputCommitment: string | null;
  /** The proven nonce; null unless valid. */
  nonce: string | null;
  /** The bundle's own setup block: what its prover claims, not checked by anything. */
  claimedSetup: SetupProvenance;
}

/** The outcome of the checks on the proof itself (`checkProof`). */
export interface ProofCheck {
  valid: boolean;
  reason: string;
  field: string | null;
  outputs: DecodedOutputs | null;
}

/**
 * The model commitment check: the bundle's descriptor must hash to its `commitment` and
 * to public signal 0 (the constant the circuit was built with). With `registered` (the
 * descriptor a service or publisher holds), the reason names the first field changed.
 */
async function checkDescriptor(
  model: BundleModel,
  signal0: string,
  sha256: Sha256,
  registered?: ModelDescriptor,
): Promise<{ reason: string; field: string } | null> {
  if (registered) {
    const diff = firstDifference(descriptorOf(registered), descriptorOf(model));
    if (diff !== null) return { reason: `model.${diff} differs from the registered model's descriptor`, field: `model.${diff}` };
  }
  const c = (await descriptorCommitment(model, sha256)).toString();
  if (c !== signal0) {
    // Without the registered (published) descriptor no hash says which field changed: every hashed one is named.
    const fields = Object.keys(descriptorOf(model)).join(', ');
    return {
      reason:
        `the model descriptor does not hash to the model commitment (public signal 0): some field of bundle.model (${fields}) ` +
        'is not the one the circuit was built with; give the published descriptor to name it',
      field: 'model',
    };
  }
  if (model.commitment !== c) return { reason: 'model.commitment is not the hash of the model descriptor', field: 'model.commitment' };
  return null;
}

/**
 * Hashes of keys that passed `assertKeyOnCurve` in this process. The hash is over the
 * key's whole canonical text (all but the derived vk_alphabeta_12), so the same hash is
 * the same points.
 */
const curveChecked = new Set<string>();

let bn128: Promise<Bn128> | undefined;
/** snarkjs' BN254 curve (built once per process; shared with snarkjs' own verifier). */
function curve(): Promise<Bn128> {
  bn128 ??= snarkjs.curves.getCurveFromName('bn128') as unknown as Promise<Bn128>;
  return bn128;
}

/**
 * The checks every verification makes, given the model's descriptor and a usable key:
 * canonical public signals, their number, the descriptor against the model commitment,
 * canonical affine proof points, then the pairing. Outputs are decoded from the public
 * signals through the (now proven) descriptor.
 */
export async function checkProof(
  model: BundleModel,
  proof: Groth16Proof,
  publicSignals: string[],
  vkey: VerificationKey,
  opts: { sha256: Sha256; registered?: ModelDescriptor },
): Promise<ProofCheck> {
  const fail = (reason: string, field: string) => ({ valid: false, reason, field, outputs: null });
  const nonCanonical = publicSignals.findIndex((s) => BigInt(s) >= FIELD_ORDER);
  if (nonCanonical >= 0) return fail(`publicSignals[${nonCanonical}] is not a canonical field element (>= r)`, `publicSignals.${nonCanonical}`);
  const bad = await checkDescriptor(model, publicSignals[0] ?? '', opts.sha256, opts.registered);
  if (bad) return fail(bad.reason, bad.field);
  const L = signalLayout(model);
  if (publicSignals.length !== L.count) return fail(`expected ${L.count} public signals for this model, found ${publicSignals.length}`, 'publicSignals');
  if (vkey.nPublic !== publicSignals.length)
    return fail(`the verification key expects ${vkey.nPublic} public signals, the proof has ${publicSignals.length}`, 'verificationKey.nPublic');
  // snarkjs reduces coordinates modulo q, the EVM's pairing precompile refuses them:
  // refuse here too, so a proof has one encoding and both verifiers agree.
  const coords = [proof.pi_a, proof.pi_b, proof.pi_c].flat(2).map(String);
  if (coords.some((c) => !/^[0-9]+$/.test(c) || BigInt(c) >= BASE_FIELD_ORDER))
    return fail('the proof has a coordinate that is not a canonical base field element (>= q)', 'proof');
  // Affine points only (z = 1): the on-chain calldata carries x and y alone.
  if (String(proof.pi_a[2]) !== '1' || String(proof.pi_c[2]) !== '1' || String(proof.pi_b[2]?.[0]) !== '1' || String(proof.pi_b[2]?.[1]) !== '0') {
    return fail('the proof points are not in affine form (z must be 1)', 'proof');
  }
  let ok: boolean;
  try {
    ok = await snarkjs.groth16.verify(vkey, publicSignals, proof);
  } catch (e) {
    return fail(`the proof is malformed: ${(e as Error).message}`, 'proof');
  }
  if (!ok) return fail('the pairing check failed: the proof does not match these public signals and key', 'proof');
  return { valid: true, reason: 'proof verifies', field: null, outputs: decodeOutputs(model, publicSignals) };
}

/**
 * Verifies a proof bundle: its structure, the key (the supplied one, else the embedded
 * one) and its hash, then `checkProof` and the bundle's copies of proven values. Returns
 * valid=false with a reason and the field for anything wrong, a refused key included;
 * throws BUNDLE_INVALID for a document that cannot be checked at all. What the result
 * shows beyond valid/reason is proven (or derived from the key), or labelled claimed.
 * `sha256` hashes keys and descriptors: node:crypto in Node, crypto.subtle in the browser.
 */
export async function verifyBundleWith(doc: unknown, opts: { vkey?: unknown; sha256: Sha256; registered?: ModelDescriptor }): Promise<VerifyResult> {
  const b = parseBundle(doc);
  const vkeySource = opts.vkey ? 'supplied' : 'bundle';
  const vkey = (opts.vkey ?? b.verificationKey) as VerificationKey;
  if (!vkey || typeof vkey !== 'object' || !Array.isArray(vkey.IC)) unusable('verification key is malformed', 'vkey');
  const hash = await opts.sha256(vkeyHashText(vkey));
  const phase1 = phase1Of(vkey);
  const base = { vkeyHash: hash, vkeySource, phase1, trust: judgeSetup(phase1, { contributions: null, independent: null }), claimedSetup: b.setup } as const;
  const invalid = (reason: string, field: string): VerifyResult => ({
    valid: false,
    reason,
    field,
    modelId: null,
    model: null,
    outputs: null,
    inputCommitment: null,
    nonce: null,
    ...base,
  });
  const keyField = vkeySource === 'supplied' ? 'vkey' : 'verificationKey';
  try {
    assertUsableVkey(vkey);
    // The curve and subgroup checks cost a few G2 multiplications: once per key text.
    if (!curveChecked.has(hash)) {
      assertKeyOnCurve(vkey, await curve());
      if (curveChecked.size >= 1024) curveChecked.clear();
      curveChecked.add(hash);
    }
  } catch (e) {
    if (e instanceof ZkinferError && e.code === 'VKEY_REFUSED')
      return invalid(`the verification key is refused: ${e.message}`, `${keyField}.${e.field ?? ''}`.replace(/\.$/, ''));
    throw e;
  }
  if (hash !== b.vkeyHash) {
    return invalid(
      vkeySource === 'supplied'
        ? `the supplied verification key (${hash}) is not the one this bundle was made with (${b.vkeyHash})`
        : "the embedded verification key does not match the bundle's vkeyHash",
      'vkeyHash',
    );
  }
  const r = await checkProof(b.model, b.proof, b.publicSignals, vkey, { sha256: opts.sha256, registered: opts.registered });
  if (!r.valid || !r.outputs) return invalid(r.reason, r.field ?? 'proof');
  const copy = checkCopies(b, r.outputs);
  if (copy) return invalid(copy.reason, copy.field);
  const L = signalLayout(b.model);
  return {
    valid: true,
    reason: r.reason,
    field: null,
    modelId: b.model.id,
    model: descriptorOf(b.model),
    outputs: r.outputs,
    inputCommitment: b.model.publicInput ? null : b.publicSignals[L.input],
    nonce: b.publicSignals[L.nonce],
    ...base,
  };
}
