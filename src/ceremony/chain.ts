import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import * as snarkjs from 'snarkjs';
import { ZkinferError } from '../core/errors.ts';
import type { Contribution } from '../verifier/audit.ts';

export type { Contribution } from '../verifier/audit.ts';

/**
 * A zkey's phase-2 transcript as the file records it: the circuit-and-ptau hash every key
 * of one circuit shares (`csHash`, fixed by `zKey.newZKey`) and the contributions in
 * order. Read from the file alone, so it is what the key *claims*: `verifyFromR1cs`
 * (in `checkContribution` / `verifyCeremonyKey`) is what checks it.
 */
export interface ZkeyChain {
  /** blake2b-512 of the circuit's initial key material: differs for another circuit or ptau. */
  csHash: string;
  contributions: Contribution[];
  /**
   * Each contribution's type as the file records it (snarkjs: 0 an ordinary contribution
   * with its proof of knowledge, 1 a beacon), in the order of `contributions`.
   */
  types: number[];
}

/** The section of a zkey that holds the MPC parameters (snarkjs zkey_utils `readMPCParams`). */
const MPC_SECTION = 10;
const G1_BYTES = 64;
const G2_BYTES = 128;

let curve: Promise<Curve> | undefined;
interface Point {
  fromRprLEM(b: Uint8Array, o: number): unknown;
  toRprUncompressed(b: Uint8Array, o: number, p: unknown): void;
}
interface Curve {
  G1: Point;
  G2: Point;
}
const bn128 = () => (curve ??= snarkjs.curves.getCurveFromName('bn128', { singleThread: true }) as unknown as Promise<Curve>);

/** Reads section `type` of a snarkjs binary file ("zkey" magic) without loading the rest. */
async function readSection(file: string, type: number): Promise<Buffer> {
  const fh = await open(file, 'r').catch((e: NodeJS.ErrnoException) => {
    throw new ZkinferError('NOT_FOUND', `cannot read ${file}: ${e.code ?? e.message}`, 'zkey');
  });
  try {
    const head = Buffer.alloc(12);
    await fh.read(head, 0, 12, 0);
    if (head.toString('latin1', 0, 4) !== 'zkey') throw new ZkinferError('CEREMONY', `${file} is not a zkey file`, 'zkey');
    const nSections = head.readUInt32LE(8);
    const { size: fileSize } = await fh.stat();
    let pos = 12;
    for (let i = 0; i < nSections && pos + 12 <= fileSize; i++) {
      const sh = Buffer.alloc(12);
      await fh.read(sh, 0, 12, pos);
      const t = sh.readUInt32LE(0);
      const size = Number(sh.readBigUInt64LE(4));
      if (t === type) {
        if (pos + 12 + size > fileSize) break;
        const data = Buffer.alloc(size);
        await fh.read(data, 0, size, pos + 12);
        return data;
      }
      pos += 12 + size;
    }
    throw new ZkinferError('CEREMONY', `${file} has no phase-2 section (truncated, or not a Groth16 zkey)`, 'zkey');
  } finally {
    await fh.close();
  }
}

/**
 * The phase-2 contribution list of a zkey, with each contribution's hash computed as
 * snarkjs computes it (blake2b-512 over deltaAfter, the contribution's public key and its
 * transcript, points uncompressed): the hash a contributor published is found here.
 */
export async function readChain(zkey: string): Promise<ZkeyChain> {
  const s = await readSection(zkey, MPC_SECTION);
  const c = await bn128();
  let o = 0;
  const take = (n: number) => {
    if (o + n > s.length) throw new ZkinferError('CEREMONY', `${zkey}: the phase-2 section is truncated`, 'zkey');
    const b = s.subarray(o, o + n);
    o += n;
    return b;
  };
  const point = (g: Point, n: number) => {
    const out = new Uint8Array(n);
    g.toRprUncompressed(out, 0, g.fromRprLEM(take(n), 0));
    return out;
  };
  const csHash = take(64).toString('hex');
  const n = take(4).readUInt32LE(0);
  const contributions: Contribution[] = [];
  const types: number[] = [];
  for (let i = 0; i < n; i++) {
    const h = createHash('blake2b512');
    h.update(point(c.G1, G1_BYTES)); // deltaAfter
    h.update(point(c.G1, G1_BYTES)); // g1_s
    h.update(point(c.G1, G1_BYTES)); // g1_sx
    h.update(point(c.G2, G2_BYTES)); // g2_spx
    h.update(take(64)); // transcript
    const type = take(4).readUInt32LE(0);
    types.push(type);
    const paramLength = take(4).readUInt32LE(0);
    const params = take(paramLength);
    let name = '';
    let iterationsExp: number | undefined;
    let beaconHash: string | undefined;
    for (let p = 0; p < params.length;) {
      const key = params[p++];
      if (key === 1) {
        const len = params[p++];
        name = params.subarray(p, p + len).toString('utf8');
        p += len;
      } else if (key === 2) iterationsExp = params[p++];
      else if (key === 3) {
        const len = params[p++];
        beaconHash = params.subarray(p, p + len).toString('hex');
        p += len;
      } else throw new ZkinferError('CEREMONY', `${zkey}: unknown contribution parameter ${key}`, 'zkey');
    }
    contributions.push({
      index: i + 1,
      name,
      hash: h.digest('hex'),
      ...(type === 1 && beaconHash !== undefined && iterationsExp !== undefined ? { beacon: { hash: beaconHash, iterationsExp } } : {}),
    });
  }
  return { csHash, contributions, types };
}

/**
 * Why `after` is not `before` extended by exactly one contribution, or null when it is:
 * same circuit (csHash), every earlier contribution unchanged and in place, one more.
 */
export function extensionProblem(before: ZkeyChain, after: ZkeyChain): string | null {
  if (before.csHash !== after.csHash) return 'it is a key of another circuit or ptau (its circuit hash differs from the base key\u2019s)';
  const b = before.contributions;
  const a = after.contributions;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i].hash !== b[i].hash) {
      return `it does not build on the base key: contribution #${i + 1} is ${short(a[i])} where the base has ${short(b[i])} (an old or another base)`;
    }
  }
  if (a.length === b.length + 1) return null;
  if (a.length <= b.length) return `it adds no contribution (${a.length} in it, ${b.length} in the base)`;
  return `it adds ${a.length - b.length} contributions at once; each contribution must be checked on its own (exactly one per step)`;
}

/**
 * Why the one contribution `after` adds to `before` is not an ordinary contribution (a
 * beacon, or a type snarkjs does not make), or null when it is. A beacon closes a chain:
 * accepted as a contribution, it would leave a ceremony that can never be finalized.
 */
export function addedKindProblem(after: ZkeyChain): string | null {
  const type = after.types.at(-1);
  const c = after.contributions.at(-1);
  if (type === 0) return null;
  if (type === 1)
    return `its new contribution ${c ? short(c) : ''} is a beacon, not a contribution: only the ceremony's owner applies the beacon, by finalizing it`;
  return `its new contribution is of type ${type}, not an ordinary contribution (type 0)`;
}

const short = (c: Contribution) => `"${c.name || '(unnamed)'}" ${c.hash.slice(0, 16)}…`;
