import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { isZkinferError } from '../core/errors.ts';
import * as snarkjs from 'snarkjs';
import type { VerificationKey } from 'snarkjs';
import { phase1Of, phase1OfFile } from '../prover/phase1.ts';
import { verifyZkeyFromR1cs } from '../prover/zkey-verify.ts';
import { identifyPtau } from '../prover/ptau.ts';
import { vkeyHash } from '../prover/setup.ts';
import { contributionsFrom } from '../verifier/audit.ts';
import { verifyBundle } from '../verifier/index.ts';
import { judgeSetup, type SetupTrust, type TrustPolicy } from '../verifier/trust.ts';
import { type DsseEnvelope, INTOTO_PAYLOAD_TYPE, loadVerifyKey, verifyEnvelope } from './dsse.ts';
import type { ReleasePredicate } from './release.ts';
import { RELEASE_FILES } from './release.ts';
import { RELEASE_PREDICATE_TYPE, type Statement, STATEMENT_TYPE } from './statement.ts';
import { sha256Bytes } from '../core/hash.ts';

export interface ReleaseCheck {
  /** valid: signed by this key and every file and proof checks; invalid: something does not; unusable: cannot be checked. */
  status: 'valid' | 'invalid' | 'unusable';
  reason: string;
  /** The subject (file) that failed, when one did. */
  subject: string | null;
  /** What was checked, in order. */
  checks: { name: string; ok: boolean; detail: string }[];
  statement: Statement<ReleasePredicate> | null;
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
/** The files of a release folder outside its signed statement: the envelope itself and the (unsigned) report. */
const UNSIGNED = new Set<string>([RELEASE_FILES.envelope, RELEASE_FILES.report]);

/** Every file under `dir`, as a subject names it (relative, '/'-separated); links count as files. */
async function filesUnder(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(path.join(dir, rel), { withFileTypes: true })) {
    const name = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await filesUnder(dir, name)));
    else out.push(name);
  }
  return out.sort();
}

/** A subject name must stay inside the release directory. */
function safeName(name: unknown): name is string {
  return typeof name === 'string' && name.length > 0 && !path.isAbsolute(name) && !name.split(/[\\/]/).includes('..');
}

/**
 * Checks a release directory: the DSSE signature with `pubKey` (PEM file or `env:NAME`),
 * the statement's type, every subject's sha256 against the file in `dir`, and every sample
 * proof against the release's verification key.
 */
export async function verifyRelease(dir: string, pubKey: string, trust: ReleaseTrustOptions = {}): Promise<ReleaseCheck> {
  const checks: ReleaseCheck['checks'] = [];
  const done = (status: ReleaseCheck['status'], reason: string, subject: string | null = null, statement: ReleaseCheck['statement'] = null): ReleaseCheck => ({
    status,
    reason,
    subject,
    checks,
    statement,
  });
  const check = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });

  let env: DsseEnvelope;
  try {
    env = JSON.parse(await readFile(path.join(dir, RELEASE_FILES.envelope), 'utf8')) as DsseEnvelope;
    if (typeof env?.payload !== 'string' || typeof env.payloadType !== 'string' || !Array.isArray(env.signatures)) throw new Error('not a DSSE envelope');
    // Every entry a signature: an entry without one is a malformed envelope, not a crash.
    const bad = env.signatures.findIndex((s: unknown) => typeof (s as { sig?: unknown } | null)?.sig !== 'string' || !BASE64.test((s as { sig: string }).sig));
    if (bad >= 0) throw new Error(`signature entry #${bad + 1} has no sig (a base64 string): not a DSSE envelope`);
    if (env.signatures.length === 0) throw new Error('it has no signature: not a DSSE envelope');
  } catch (e) {
    return done('unusable', `cannot read ${RELEASE_FILES.envelope} in ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let key;
  try {
    key = await loadVerifyKey(pubKey);
  } catch (e) {
    if (isZkinferError(e)) return done('unusable', e.message);
    throw e;
  }
  if (env.payloadType !== INTOTO_PAYLOAD_TYPE) {
    check('signature', false, `payload type ${env.payloadType}`);
    return done('invalid', `the envelope's payload type is ${JSON.stringify(env.payloadType)}, not ${INTOTO_PAYLOAD_TYPE}`);
  }
  const payload = verifyEnvelope(env, key);
  check('signature', payload !== null, payload ? 'DSSE signature over the PAE verifies with the given key' : 'no signature verifies with the given key');
  if (!payload) return done('invalid', 'the attestation is not signed by this key (or was changed after signing)');

  let st: Statement<ReleasePredicate>;
  try {
    st = JSON.parse(payload.toString('utf8')) as Statement<ReleasePredicate>;
  } catch (e) {
    return done('invalid', `the signed payload is not JSON: ${(e as Error).message}`);
  }
  const typed = st._type === STATEMENT_TYPE && st.predicateType === RELEASE_PREDICATE_TYPE && Array.isArray(st.subject) && !!st.predicate;
  check('statement', typed, typed ? `${STATEMENT_TYPE}, ${RELEASE_PREDICATE_TYPE}` : `type ${st._type}, predicate type ${st.predicateType}`);
  if (!typed) return done('invalid', 'the signed payload is not a zkinfer release statement', null, st);

  for (const s of st.subject) {
    const want = s?.digest?.sha256;
    if (!safeName(s?.name) || typeof want !== 'string')
      return done('invalid', `subject ${JSON.stringify(s?.name)} is malformed or leaves the release directory`, String(s?.name), st);
    let bytes: Buffer;
    try {
      bytes = await readFile(path.join(dir, ...s.name.split('/')));
    } catch {
      check(`subject ${s.name}`, false, 'missing');
      return done('invalid', `subject ${s.name} is missing from ${dir}`, s.name, st);
    }
    const got = sha256Bytes(bytes);
    check(`subject ${s.name}`, got === want, got === want ? `sha256 ${got}` : `sha256 ${got}, signed ${want}`);
    if (got !== want) return done('invalid', `subject ${s.name} was changed: its sha256 is ${got}, the signed statement says ${want}`, s.name, st);
  }

  const names = new Set(st.subject.map((s) => s.name));
  // Every file in the folder is signed: a file no signature covers (an extra proof, a
  // swapped contract beside the signed one) is refused, naming it. The envelope and the
  // report written beside it are the only files outside the statement.
  const unsigned = (await filesUnder(dir)).filter((f) => !names.has(f) && !UNSIGNED.has(f));
  check(
    'no unsigned files',
    unsigned.length === 0,
    unsigned.length ? `not covered by the signature: ${unsigned.join(', ')}` : `every file but ${[...UNSIGNED].join(' and ')} is a subject`,
  );
  if (unsigned.length)
    return done(
      'invalid',
      `${unsigned[0]} is in the release folder but no signature covers ` +
        `it${unsigned.length > 1 ? ` (and ${unsigned.length - 1} more: ${unsigned.slice(1, 6).join(', ')})` : ''}`,
      unsigned[0],
      st,
    );
  if (!names.has(RELEASE_FILES.vkey)) return done('invalid', `the statement does not cover ${RELEASE_FILES.vkey}`, RELEASE_FILES.vkey, st);
  const vkey = JSON.parse(await readFile(path.join(dir, RELEASE_FILES.vkey), 'utf8'));
  for (const p of st.predicate.proofs ?? []) {
    if (!names.has(p.file)) return done('invalid', `proof ${p.file} is not a subject of the statement`, p.file, st);
    const bundle = JSON.parse(await readFile(path.join(dir, ...p.file.split('/')), 'utf8')) as { model?: { commitment?: string } };
    const r = await verifyBundle(bundle, { vkey });
    const sameModel = bundle.model?.commitment === st.predicate.model.commitment;
    check(`proof ${p.file}`, r.valid && sameModel, r.valid ? (sameModel ? 'verifies with the release key' : 'verifies, but for another model') : r.reason);
    if (!r.valid || !sameModel)
      return done('invalid', `proof ${p.file} ${r.valid ? 'is for another model' : `does not verify with the release key: ${r.reason}`}`, p.file, st);
  }
  // The setup's trust, as this verifier can establish it (never the signed statement's word).
  const setup = await judgeReleaseSetup(dir, names, vkey, trust);
  check('setup', setup.refusals.length === 0, `${setup.summary}${setup.refusals.length ? `; refused: ${setup.refusals.join('; ')}` : ''}`);
  if (setup.refusals.length) return done('invalid', `the setup does not meet the trust policy: ${setup.refusals.join('; ')}`, RELEASE_FILES.vkey, st);
  return done(
    'valid',
    `signed release of model ${st.predicate.model.id}: ${st.subject.length} files and ${st.predicate.proofs.length} proof(s) check`,
    null,
    st,
  );
}

/** What `release verify` may demand of the release's setup, and the files it judges it from. */
export interface ReleaseTrustOptions {
  policy?: TrustPolicy;
  /** The ptau file the release's zkey was made on: phase 1 is then established from its hash. */
  ptau?: string;
  trustPtau?: string[];
  independentContributions?: string[];
}

/**
 * The release's setup as this verifier can establish it: a development key is known from
 * the key; otherwise phase 1 takes the ptau file (the signed statement's word is not
 * enough): the release's zkey is checked against its r1cs and that ptau (snarkjs
 * verifyFromR1cs), the release key against the zkey, and the ptau by its hash.
 */
async function judgeReleaseSetup(dir: string, names: Set<string>, vkey: VerificationKey, o: ReleaseTrustOptions): Promise<SetupTrust> {
  const fromKey = phase1Of(vkey);
  if (fromKey.kind === 'development' || !o.ptau) return judgeSetup(fromKey, { contributions: null, independent: null }, o.policy);
  const r1cs = 'circuit/main.r1cs';
  const zkey = 'keys/circuit.zkey';
  for (const f of [r1cs, zkey])
    if (!names.has(f)) return { ...judgeSetup(fromKey, { contributions: null, independent: null }, o.policy), refusals: [`the statement does not cover ${f}`] };
  const infos: string[] = [];
  const logger = { info: (...a: unknown[]) => infos.push(a.map(String).join(' ')), debug: () => {}, warn: () => {}, error: () => {} };
  const ptau = await identifyPtau(o.ptau);
  const zkeyFile = path.join(dir, ...zkey.split('/'));
  const chained = await verifyZkeyFromR1cs(path.join(dir, ...r1cs.split('/')), o.ptau, zkeyFile, logger).catch(() => false);
  const exported = chained ? await snarkjs.zKey.exportVerificationKey(zkeyFile).catch(() => null) : null;
  if (!chained || !exported || vkeyHash(exported) !== vkeyHash(vkey)) {
    const t = judgeSetup(fromKey, { contributions: null, independent: null }, o.policy);
    return {
      ...t,
      refusals: [...t.refusals, chained ? "the release key is not the release zkey's" : `the release zkey was not made from its r1cs and ${ptau.name}`],
    };
  }
  const ordinary = contributionsFrom(infos).filter((c) => !c.beacon);
  const known = new Set(o.independentContributions ?? []);
  return judgeSetup(
    phase1OfFile(ptau, { trustedHashes: o.trustPtau }),
    { contributions: ordinary.length, independent: ordinary.filter((c) => known.has(c.hash)).length },
    o.policy,
  );
}
