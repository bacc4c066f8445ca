// Browser-safe: the checks on a property proof (no node: imports here or in what this imports).
import * as snarkjs from 'snarkjs';
import type { VerificationKey } from 'snarkjs';
import { ZkinferError } from '../core/errors.ts';
import { descriptorCommitment, descriptorOf, type ModelDescriptor, type Sha256 } from '../bundle/descriptor.ts';
import { describeStatement, parsePropertyBundle, PROPERTY_SIGNALS, type PropertyStatement, statementHash } from '../bundle/property.ts';
import { assertKeyOnCurve, assertUsableVkey, type Bn128, vkeyHashText } from '../prover/vkey.ts';
import { BASE_FIELD_ORDER, FIELD_ORDER } from '../fixed/field.ts';

export interface PropertyVerifyResult {
  valid: boolean;
  /** "proof verifies", or the first check that failed. */
  reason: string;
  field: string | null;
  /** The proven model commitment (public signal 0); null unless valid. */
  modelCommitment: string | null;
  model: ModelDescriptor | null;
  /** The proven statement; null unless valid. */
  statement: PropertyStatement | null;
  /** The statement in words ("feature `gender` unused"); null unless valid. */
  proven: string | null;
  vkeyHash: string;
  /** The prover's setup claims a development powers of tau: a proof for testing only. */
  insecure: boolean;
}

/** The positions in the flat input vector of the descriptor's input `name` (inputs are concatenated in order), or null. */
function statementFeatures(d: ModelDescriptor, name: string): number[] | null {
  let offset = 0;
  for (const i of d.inputs) {
    if (i.name === name) return Array.from({ length: i.size }, (_, k) => offset + k);
    offset += i.size;
  }
  return null;
}

let bn128: Promise<Bn128> | undefined;
const curve = (): Promise<Bn128> => (bn128 ??= snarkjs.curves.getCurveFromName('bn128') as unknown as Promise<Bn128>);

/**
 * Verifies a property proof: its structure, the key and its hash, the descriptor against
 * the model commitment (public signal 0) and its parameter commitment (a property is about
 * a private model's committed parameters), the statement against its hash (signal 1), then
 * the pairing with the bundle's key. Throws BUNDLE_INVALID for a document that cannot be
 * checked at all. `sha256`: node:crypto in Node, crypto.subtle in the browser.
 */
export async function verifyPropertyWith(doc: unknown, opts: { sha256: Sha256; vkey?: unknown }): Promise<PropertyVerifyResult> {
  const b = parsePropertyBundle(doc);
  const vkey = (opts.vkey ?? b.verificationKey) as VerificationKey;
  const hash = await opts.sha256(vkeyHashText(vkey));
  const invalid = (reason: string, field: string): PropertyVerifyResult => ({
    valid: false,
    reason,
    field,
    modelCommitment: null,
    model: null,
    statement: null,
    proven: null,
    vkeyHash: hash,
    insecure: b.setup?.insecure !== false,
  });
  try {
    assertUsableVkey(vkey);
    assertKeyOnCurve(vkey, await curve());
  } catch (e) {
    if (e instanceof ZkinferError && e.code === 'VKEY_REFUSED') return invalid(`the verification key is refused: ${e.message}`, 'verificationKey');
    throw e;
  }
  if (hash !== b.vkeyHash) return invalid(`the verification key (${hash}) is not the one the bundle names (${b.vkeyHash})`, 'vkeyHash');
  const signals = b.publicSignals;
  if (signals.length !== PROPERTY_SIGNALS.length || vkey.nPublic !== PROPERTY_SIGNALS.length)
    return invalid(`a property proof has ${PROPERTY_SIGNALS.length} public signals (${PROPERTY_SIGNALS.join(', ')})`, 'publicSignals');
  if (signals.some((s) => BigInt(s) >= FIELD_ORDER)) return invalid('a public signal is not a canonical field element (>= r)', 'publicSignals');
  const descriptor = descriptorOf(b.model);
  const commitment = (await descriptorCommitment(descriptor, opts.sha256)).toString();
  if (commitment !== b.model.commitment)
    return invalid(`the model descriptor hashes to ${commitment}, not to the commitment the bundle states (${b.model.commitment})`, 'model');
  if (commitment !== signals[0])
    return invalid(`the model descriptor hashes to ${commitment}, not to the proven model commitment ${signals[0]}`, 'publicSignals.0');
  if (!descriptor.parameters) return invalid('the model is public: a property proof is about the committed parameters of a private model', 'model.parameters');
  const named = statementFeatures(descriptor, b.statement.input);
  if (named === null) return invalid(`the model has no input named ${b.statement.input}`, 'statement.input');
  if (named.join() !== b.statement.features.join())
    return invalid(
      `the statement's features [${b.statement.features.join(', ')}] are not input ${b.statement.input}'s [${named.join(', ')}]`,
      'statement.features',
    );
  const sh = (await statementHash(b.statement, opts.sha256)).toString();
  if (sh !== signals[1]) return invalid(`the statement hashes to ${sh}, not to the proven statement ${signals[1]}`, 'statement');
  const p = b.proof;
  const coords = [p.pi_a, p.pi_b, p.pi_c].flat(2).map(String);
  if (coords.some((c) => !/^[0-9]+$/.test(c) || BigInt(c) >= BASE_FIELD_ORDER))
    return invalid('the proof has a coordinate that is not a canonical base field element (>= q)', 'proof');
  let ok: boolean;
  try {
    ok = await snarkjs.groth16.verify(vkey, signals, p);
  } catch (e) {
    return invalid(`the proof is malformed: ${(e as Error).message}`, 'proof');
  }
  if (!ok) return invalid('the pairing check failed: the proof does not match these public signals and key', 'proof');
  return {
    valid: true,
    reason: 'proof verifies',
    field: null,
    modelCommitment: commitment,
    model: descriptor,
    statement: b.statement,
    proven: describeStatement(b.statement),
    vkeyHash: hash,
    insecure: b.setup?.insecure !== false,
  };
}
