import * as snarkjs from 'snarkjs';
import type { VerificationKey } from 'snarkjs';
import { ZkinferError } from '../errors.ts';
import { BUNDLE_FORMAT, BUNDLE_VERSION, type DecodedOutputs, type ProofBundle } from '../prover/bundle.ts';
import { assertUsableVkey, type SetupProvenance, vkeyHash } from '../prover/setup.ts';
import { FIELD_ORDER } from '../quant/field.ts';
import { decodeOutputs, signalLayout } from './decode.ts';

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

const DECIMAL = /^(0|[1-9][0-9]*)$/;

function unusable(message: string, field: string): never {
  throw new ZkinferError('BUNDLE_INVALID', message, field);
}

/** Structural checks: anything that fails here cannot be verified at all (exit 2). */
export function parseBundle(doc: unknown): ProofBundle {
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) unusable('a proof bundle must be a JSON object', 'bundle');
  const b = doc as Record<string, unknown>;
  if (b.format !== BUNDLE_FORMAT) unusable(`format must be "${BUNDLE_FORMAT}"`, 'format');
  if (b.version !== BUNDLE_VERSION) unusable(`unsupported bundle version ${String(b.version)} (this verifier reads ${BUNDLE_VERSION})`, 'version');
  const ps = b.publicSignals;
  if (!Array.isArray(ps) || ps.length === 0) unusable('publicSignals must be a non-empty array', 'publicSignals');
  ps.forEach((s, i) => {
    if (typeof s !== 'string' || !DECIMAL.test(s)) unusable(`publicSignals[${i}] must be a decimal string without sign or leading zeros`, `publicSignals[${i}]`);
  });
  const proof = b.proof as Record<string, unknown> | undefined;
  if (!proof || typeof proof !== 'object') unusable('proof is missing', 'proof');
  for (const k of ['pi_a', 'pi_b', 'pi_c'] as const) {
    const flat = JSON.stringify(proof[k] ?? null).match(/"[^"]*"/g) ?? [];
    if (!Array.isArray(proof[k]) || flat.length === 0 || flat.some((s) => !DECIMAL.test(s.slice(1, -1)))) {
      unusable(`proof.${k} must hold decimal strings`, `proof.${k}`);
    }
  }
  const m = b.model as Record<string, unknown> | undefined;
  if (!m || typeof m !== 'object' || typeof m.id !== 'string' || typeof m.commitment !== 'string') unusable('model must name its id and commitment', 'model');
  for (const k of ['outputSize', 'decisionSize'] as const) {
    if (!Number.isInteger(m[k]) || (m[k] as number) < 0) unusable(`model.${k} must be a non-negative integer`, `model.${k}`);
  }
  const st = m.settings as Record<string, unknown> | undefined;
  if (!st || !Number.isInteger(st.scaleBits)) unusable('model.settings.scaleBits is missing', 'model.settings');
  if (!b.verificationKey || typeof b.verificationKey !== 'object') unusable('verificationKey is missing', 'verificationKey');
  return doc as ProofBundle;
}

/**
 * Verifies a proof bundle: canonical public signals, their count, the key against
 * the model's, then the pairing. Returns valid=false with a reason for a proof that
 * is well formed but wrong; throws BUNDLE_INVALID for one that cannot be checked.
 */
export async function verifyBundle(doc: unknown, opts: { vkey?: unknown } = {}): Promise<VerifyResult> {
  const b = parseBundle(doc);
  const vkeySource = opts.vkey ? 'supplied' : 'bundle';
  const vkey = (opts.vkey ?? b.verificationKey) as VerificationKey;
  if (!vkey || typeof vkey !== 'object' || !Array.isArray(vkey.IC)) unusable('verification key is malformed', 'vkey');
  assertUsableVkey(vkey);
  const hash = vkeyHash(vkey);
  const base = { modelId: b.model.id, vkeyHash: hash, vkeySource, setup: b.setup } as const;
  const fail = (reason: string): VerifyResult => ({ valid: false, reason, outputs: null, ...base });

  const nonCanonical = b.publicSignals.findIndex((s) => BigInt(s) >= FIELD_ORDER);
  if (nonCanonical >= 0) return fail(`publicSignals[${nonCanonical}] is not a canonical field element (>= r)`);
  const L = signalLayout(b.model);
  if (b.publicSignals.length !== L.count) return fail(`expected ${L.count} public signals for this model, found ${b.publicSignals.length}`);
  if (vkey.nPublic !== b.publicSignals.length) return fail(`the verification key expects ${vkey.nPublic} public signals, the bundle has ${b.publicSignals.length}`);
  if (b.publicSignals[L.modelCommitment] !== b.model.commitment) return fail('the model commitment in the public signals is not the bundle model\'s');
  if (hash !== b.vkeyHash) {
    return fail(vkeySource === 'supplied' ? `the supplied verification key (${hash}) is not the one this bundle was made with (${b.vkeyHash})` : 'the embedded verification key does not match the bundle\'s vkeyHash');
  }
  let ok: boolean;
  try {
    ok = await snarkjs.groth16.verify(vkey, b.publicSignals, b.proof);
  } catch (e) {
    return fail(`the proof is malformed: ${(e as Error).message}`);
  }
  if (!ok) return fail('the pairing check failed: the proof does not match these public signals and key');
  return { valid: true, reason: 'proof verifies', outputs: decodeOutputs(b.model, b.publicSignals), ...base };
}
