import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as snarkjs from 'snarkjs';
import type { VerificationKey } from 'snarkjs';
import { ZkinferError } from '../core/errors.ts';
import type { CompiledModel } from '../pipeline/index.ts';
import { verifyZkeyFromR1cs } from '../prover/zkey-verify.ts';
import { identifyPtau, type PtauInfo } from '../prover/ptau.ts';
import { hashFile } from '../core/hash.ts';
import { assertUsableVkey, type CircuitSetup, vkeyHash } from '../prover/setup.ts';
import type { SetupProvenance } from '../bundle/format.ts';
import type { QuantSettings } from '../fixed/settings.ts';
import { addedKindProblem, type Contribution, extensionProblem, readChain, type ZkeyChain } from './chain.ts';

export const CEREMONY_FORMAT = 'zkinfer.ceremony';
export const CEREMONY_FILE = 'ceremony.json';

/**
 * What a ceremony directory carries beside its zkey: enough for a contributor to know which
 * model and circuit the key is for, and for anyone to check the key (`ceremony verify`).
 * `chain` is copied from the key; the key itself is what is checked, never this file.
 */
export interface CeremonyRecord {
  format: typeof CEREMONY_FORMAT;
  version: 1;
  modelId: string;
  /** The model commitment (public signal 0), decimal. */
  commitment: string;
  circuitHash: string;
  settings: QuantSettings;
  publicInput: boolean;
  constraints: number;
  r1csSha256: string;
  ptau: { kind: string; name: string; power: number; sha256: string };
  /** blake2b-512 of the circuit's initial key material (snarkjs csHash): one per circuit and ptau. */
  csHash: string;
  /** The key this record describes, by file name in the same directory, and its sha256. */
  zkey: string;
  zkeySha256: string;
  /** Phase-2 contributions so far, in order (the beacon last once finalized). */
  chain: Contribution[];
  /** Set by `finalize`: the key is closed and its verification key exported. */
  final?: { vkey: string; vkeySha256: string };
}

const NAME_MAX = 64;

function checkName(name: string): string {
  if (!name.trim()) throw new ZkinferError('CEREMONY', 'a contribution needs a name (the contributor, as they will publish it)', 'name');
  if (Buffer.byteLength(name) > NAME_MAX)
    throw new ZkinferError('CEREMONY', `a contribution name is at most ${NAME_MAX} bytes (snarkjs truncates longer names)`, 'name');
  return name;
}

/** Writes through a temp file in the same directory and a rename. */
async function atomically(file: string, write: (tmp: string) => Promise<unknown>): Promise<void> {
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await write(tmp);
    await rename(tmp, file);
  } finally {
    await rm(tmp, { force: true });
  }
}

async function writeRecord(dir: string, record: CeremonyRecord): Promise<string> {
  const file = path.join(dir, CEREMONY_FILE);
  await atomically(file, (tmp) => writeFile(tmp, JSON.stringify(record, null, 2) + '\n'));
  return file;
}

/** The record for `zkey` in `dir`, from the ceremony's fixed part and the key's own chain. */
async function recordFor(
  base: Omit<CeremonyRecord, 'zkey' | 'zkeySha256' | 'chain' | 'csHash' | 'final'>,
  zkey: string,
  chain: ZkeyChain,
): Promise<CeremonyRecord> {
  return { ...base, csHash: chain.csHash, zkey: path.basename(zkey), zkeySha256: await hashFile(zkey, 'sha256'), chain: chain.contributions };
}

export interface InitResult {
  dir: string;
  /** The initial key (`circuit_0000.zkey`): no contribution yet, so anyone could forge with it. */
  zkey: string;
  record: CeremonyRecord;
  recordFile: string;
}

/**
 * Starts a file-based phase-2 ceremony for a compiled model: the initial zkey from the
 * r1cs and the ptau (snarkjs `zKey.newZKey`, no contribution) and `ceremony.json`.
 */
export async function initCeremony(m: CompiledModel, ptau: PtauInfo, outDir: string): Promise<InitResult> {
  await mkdir(outDir, { recursive: true });
  const zkey = path.join(outDir, 'circuit_0000.zkey');
  await atomically(zkey, (tmp) => snarkjs.zKey.newZKey(m.compiled.r1cs, ptau.file, tmp));
  const chain = await readChain(zkey);
  const record = await recordFor(
    {
      format: CEREMONY_FORMAT,
      version: 1,
      modelId: m.modelId,
      commitment: m.modelCommitment.toString(),
      circuitHash: m.descriptor.circuitHash,
      settings: m.settings,
      publicInput: m.publicInput,
      constraints: m.compiled.constraints,
      r1csSha256: await hashFile(m.compiled.r1cs, 'sha256'),
      ptau: { kind: ptau.kind, name: ptau.name, power: ptau.power, sha256: ptau.sha256 },
    },
    zkey,
    chain,
  );
  return { dir: outDir, zkey, record, recordFile: await writeRecord(outDir, record) };
}

export interface ContributeResult {
  /** blake2b-512 contribution hash: what the contributor publishes. */
  hash: string;
  chain: ZkeyChain;
  zkeySha256: string;
}

/**
 * Adds one contribution with fresh local entropy (crypto.randomBytes unless given) to
 * `inZkey`, writing `outZkey` (snarkjs `zKey.contribute`). Checks that the result extends
 * the input by exactly this contribution. The entropy is not kept anywhere.
 */
export async function contribute(inZkey: string, outZkey: string, name: string, opts: { entropy?: Uint8Array } = {}): Promise<ContributeResult> {
  checkName(name);
  if (path.resolve(inZkey) === path.resolve(outZkey))
    throw new ZkinferError('CEREMONY', 'the output key must be a new file (the input key stays as the ceremony\u2019s record)', 'out');
  const before = await readChain(inZkey);
  if (before.types.some((t) => t !== 0)) throw new ZkinferError('CEREMONY', 'this key is finalized (it holds a beacon): no contribution can follow', 'in');
  const entropy = Buffer.from(opts.entropy ?? randomBytes(64)).toString('hex');
  let hash = '';
  await atomically(outZkey, async (tmp) => {
    const h = await snarkjs.zKey.contribute(inZkey, tmp, name, entropy);
    if (!(h instanceof Uint8Array)) throw new ZkinferError('CEREMONY', `snarkjs refused to contribute to ${inZkey}`, 'in');
    hash = Buffer.from(h).toString('hex');
  });
  const after = await readChain(outZkey);
  const problem = extensionProblem(before, after);
  if (problem || after.contributions.at(-1)!.hash !== hash) {
    await rm(outZkey, { force: true });
    throw new ZkinferError('CEREMONY', `the new key is not the input plus this contribution: ${problem ?? 'its last contribution hash differs'}`, 'out');
  }
  return { hash, chain: after, zkeySha256: await hashFile(outZkey, 'sha256') };
}

export interface KeyCheck {
  ok: boolean;
  /** Why the key was refused (snarkjs' own messages), when it was. */
  reason: string | null;
  chain: ZkeyChain;
}

/**
 * Checks a zkey against a circuit's r1cs and the ptau (snarkjs `zKey.verifyFromR1cs`:
 * rebuilds the initial key, checks every contribution's proof of knowledge and that the
 * key's points follow from the last delta). A key of another circuit fails here.
 */
export async function verifyCeremonyKey(zkey: string, r1cs: string, ptau: string): Promise<KeyCheck> {
  const chain = await readChain(zkey);
  const errors: string[] = [];
  const logger = {
    info: () => {},
    debug: () => {},
    warn: (...a: unknown[]) => errors.push(a.map(String).join(' ')),
    error: (...a: unknown[]) => errors.push(a.map(String).join(' ')),
  };
  let ok = false;
  try {
    ok = await verifyZkeyFromR1cs(r1cs, ptau, zkey, logger);
  } catch (e) {
    errors.push((e as Error).message);
  }
  const reason = ok
    ? null
    : `the key was not made from this circuit and this ptau through valid ` +
      `contributions${errors.length ? ` (${errors.join('; ').replace(/\s+/g, ' ').trim()})` : ''}`;
  return { ok, reason, chain };
}

export interface ContributionCheck {
  chain: ZkeyChain;
  /** The one contribution `newZkey` adds to `baseZkey`. */
  added: Contribution;
}

/**
 * Accepts `newZkey` as the next key of a ceremony whose current key is `baseZkey` only when
 * it is the same circuit, keeps every contribution of the base in place, adds exactly one
 * ordinary contribution (not a beacon, unless `allowBeacon`: checking a finalized key against
 * the key it closed), and verifies against the circuit's r1cs and the ptau. Throws CEREMONY
 * naming the reason.
 */
export async function checkContribution(
  baseZkey: string,
  newZkey: string,
  r1cs: string,
  ptau: string,
  opts: { allowBeacon?: boolean } = {},
): Promise<ContributionCheck> {
  const before = await readChain(baseZkey);
  const after = await readChain(newZkey);
  const problem = extensionProblem(before, after) ?? (opts.allowBeacon && after.types.at(-1) === 1 ? null : addedKindProblem(after));
  if (problem) throw new ZkinferError('CEREMONY', `contribution refused: ${problem}`, 'zkey');
  const check = await verifyCeremonyKey(newZkey, r1cs, ptau);
  if (!check.ok) throw new ZkinferError('CEREMONY', `contribution refused: ${check.reason}`, 'zkey');
  return { chain: after, added: after.contributions.at(-1)! };
}

export interface FinalizeOptions {
  /** Public randomness fixed in advance (a future block hash, a drand round), hex. */
  beacon: string;
  /** log2 of the beacon's hash iterations, 10..63 (snarkjs numIterationsExp). */
  iterationsExp: number;
  name?: string;
  /** With both: the final key is checked against the circuit and the ptau. */
  r1cs?: string;
  ptau?: string;
}

export interface FinalizeResult {
  zkey: string;
  vkeyFile: string;
  vkey: VerificationKey;
  vkeySha256: string;
  /** The beacon contribution's hash. */
  hash: string;
  chain: ZkeyChain;
  /** Null unless r1cs and ptau were given. */
  verified: KeyCheck | null;
}

/**
 * A beacon as snarkjs takes it: 1 to 255 bytes of hex, lowercase, a leading `0x` (as block
 * hashes are written) dropped. Anything else is a SETTINGS error naming `beacon`.
 */
export function beaconHex(beacon: string): string {
  const hex = /^0[xX]/.test(beacon) ? beacon.slice(2) : beacon;
  if (!/^([0-9a-fA-F]{2}){1,255}$/.test(hex))
    throw new ZkinferError('SETTINGS', 'the beacon must be 1 to 255 bytes of hex (an even number of hex digits, optionally after 0x)', 'beacon');
  return hex.toLowerCase();
}

/**
 * Closes a ceremony: applies the public beacon (snarkjs `zKey.beacon`) to `inZkey`, writes
 * `circuit_final.zkey` and `vkey.json` to `outDir`, and checks the result (one more
 * contribution, a usable key, and with r1cs and ptau the full verification).
 */
export async function finalize(inZkey: string, outDir: string, o: FinalizeOptions): Promise<FinalizeResult> {
  // Bad options are usage errors (SETTINGS), not a refused key.
  const beacon = beaconHex(o.beacon);
  if (!Number.isInteger(o.iterationsExp) || o.iterationsExp < 10 || o.iterationsExp > 63)
    throw new ZkinferError('SETTINGS', 'iterations is an exponent between 10 and 63 (2^N hash iterations)', 'iterations');
  const before = await readChain(inZkey);
  if (before.contributions.length === 0)
    throw new ZkinferError('CEREMONY', 'the key has no contribution: a beacon alone is public, so anyone could forge', 'in');
  if (before.types.some((t) => t !== 0)) throw new ZkinferError('CEREMONY', 'the key is already finalized (it holds a beacon): no beacon can follow', 'in');
  const zkey = path.join(outDir, 'circuit_final.zkey');
  let hash = '';
  await atomically(zkey, async (tmp) => {
    const h = await snarkjs.zKey.beacon(inZkey, tmp, checkName(o.name ?? 'final beacon'), beacon, o.iterationsExp);
    if (!(h instanceof Uint8Array)) throw new ZkinferError('CEREMONY', `snarkjs refused the beacon for ${inZkey}`, 'in');
    hash = Buffer.from(h).toString('hex');
  });
  const chain = await readChain(zkey);
  const problem = extensionProblem(before, chain);
  const last = chain.contributions.at(-1);
  if (problem || last?.hash !== hash || !last.beacon)
    throw new ZkinferError('CEREMONY', `the final key is not the input plus the beacon: ${problem ?? 'its last contribution differs'}`, 'out');
  const verified = o.r1cs && o.ptau ? await verifyCeremonyKey(zkey, o.r1cs, o.ptau) : null;
  if (verified && !verified.ok) throw new ZkinferError('CEREMONY', `the final key does not verify: ${verified.reason}`, 'in');
  const vkey = await snarkjs.zKey.exportVerificationKey(zkey);
  assertUsableVkey(vkey);
  const vkeyFile = path.join(outDir, 'vkey.json');
  await atomically(vkeyFile, (tmp) => writeFile(tmp, JSON.stringify(vkey, null, 1)));
  return { zkey, vkeyFile, vkey, vkeySha256: vkeyHash(vkey), hash, chain, verified };
}

/**
 * Carries a ceremony record from the directory of `fromZkey` to that of `toZkey`, with the
 * new key's name, hash and chain (and `final` when given). Null when there is no record.
 */
export async function advanceRecord(record: CeremonyRecord | null, toZkey: string, final?: CeremonyRecord['final']): Promise<string | null> {
  if (!record) return null;
  const { zkey: _z, zkeySha256: _s, chain: _c, csHash: _h, final: _f, ...base } = record;
  const next = await recordFor(base, toZkey, await readChain(toZkey));
  return writeRecord(path.dirname(toZkey), final ? { ...next, final } : next);
}

/**
 * A `CircuitSetup` for a key from a ceremony (or any finished zkey), so the ordinary prover
 * and bundles use it: provenance from the key's own chain, hashes of the files as given.
 */
export async function ceremonySetup(m: CompiledModel, zkey: string, ptauFile: string, vkey?: VerificationKey): Promise<CircuitSetup> {
  const key = vkey ?? (await snarkjs.zKey.exportVerificationKey(zkey));
  assertUsableVkey(key);
  const ptau = await identifyPtau(ptauFile);
  const chain = await readChain(zkey);
  const dir = path.dirname(path.resolve(zkey));
  const provenance: SetupProvenance = {
    insecure: ptau.kind === 'development',
    ptau: { kind: ptau.kind === 'unknown' ? 'operator-pinned' : ptau.kind, name: ptau.name, power: ptau.power, sha256: ptau.sha256 },
    phase2: chain.contributions.map((c) => ({
      name: c.beacon ? `${c.name} (beacon ${c.beacon.hash}, 2^${c.beacon.iterationsExp} iterations)` : c.name,
      hash: c.hash,
    })),
    circuitHash: m.compiled.hash,
    r1csSha256: await hashFile(m.compiled.r1cs, 'sha256'),
    wasmSha256: await hashFile(m.compiled.wasm, 'sha256'),
    zkeySha256: await hashFile(zkey, 'sha256'),
    vkeySha256: vkeyHash(key),
    createdAt: new Date().toISOString(),
  };
  return { dir, zkey, vkeyFile: path.join(dir, 'vkey.json'), vkey: key, provenance, setupMs: 0, cached: true };
}

/** Copies a file through a temp name (for writing a ceremony's keys into another directory). */
export async function copyAtomically(from: string, to: string): Promise<void> {
  await atomically(to, (tmp) => copyFile(from, tmp));
}
