import { mkdir, open, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { PtauKind } from '../bundle/format.ts';
import { ZkinferError } from '../core/errors.ts';
import { artifactKindDir, exists } from '../core/artifacts.ts';
import { hashFile } from '../core/hash.ts';
import { generateDevPtau } from './dev-ptau.ts';
import { PACKAGE_ROOT } from '../core/package-root.ts';

/**
 * Powers-of-tau files: which one a circuit uses, and whether it can be trusted.
 * An operator's file must be a known public ceremony file (by its blake2b-512 hash,
 * as snarkjs publishes them) or match a sha256 the operator pins. Without one, a
 * development file is used or generated: every artifact built on it says so.
 */
export interface PtauInfo {
  file: string;
  power: number;
  kind: PtauKind;
  /** True for development files: one machine knows the toxic waste. */
  insecure: boolean;
  name: string;
  sha256: string;
}

/** blake2b-512 of the Hermez/Polygon perpetual powers-of-tau files (from the snarkjs README). */
const HERMEZ_BLAKE2B: Record<number, string> = {
  8: 'd6a8fb3a04feb600096c3b791f936a578c4e664d262e4aa24beed1b7a9a96aa5eb72864d628db247e9293384b74b36ffb52ca8d148d6e1b8b51e279fdf57b583',
  9: '94f108a80e81b5d932d8e8c9e8fd7f46cf32457e31462deeeef37af1b71c2c1b3c71fb0d9b59c654ec266b042735f50311f9fd1d4cadce47ab234ad163157cb5',
  10: '6cfeb8cda92453099d20120bdd0e8a5c4e7706c2da9a8f09ccc157ed2464d921fd0437fb70db42104769efd7d6f3c1f964bcf448c455eab6f6c7d863e88a5849',
  11: '47c282116b892e5ac92ca238578006e31a47e7c7e70f0baa8b687f0a5203e28ea07bbbec765a98dcd654bad618475d4661bfaec3bd9ad2ed12e7abc251d94d33',
  12: 'ded2694169b7b08e898f736d5de95af87c3f1a64594013351b1a796dbee393bd825f88f9468c84505ddd11eb0b1465ac9b43b9064aa8ec97f2b73e04758b8a4a',
  13: '58efc8bf2834d04768a3d7ffcd8e1e23d461561729beaac4e3e7a47829a1c9066d5320241e124a1a8e8aa6c75be0ba66f65bc8239a0542ed38e11276f6fdb4d9',
  14: 'eeefbcf7c3803b523c94112023c7ff89558f9b8e0cf5d6cdcba3ade60f168af4a181c9c21774b94fbae6c90411995f7d854d02ebd93fb66043dbb06f17a831c1',
  15: '982372c867d229c236091f767e703253249a9b432c1710b4f326306bfa2428a17b06240359606cfe4d580b10a5a1f63fbed499527069c18ae17060472969ae6e',
  16: '6a6277a2f74e1073601b4f9fed6e1e55226917efb0f0db8a07d98ab01df1ccf43eb0e8c3159432acd4960e2f29fe84a4198501fa54c8dad9e43297453efec125',
  17: '6247a3433948b35fbfae414fa5a9355bfb45f56efa7ab4929e669264a0258976741dfbe3288bfb49828e5df02c2e633df38d2245e30162ae7e3bcca5b8b49345',
  18: '7e6a9c2e5f05179ddfc923f38f917c9e6831d16922a902b0b4758b8e79c2ab8a81bb5f29952e16ee6c5067ed044d7857b5de120a90704c1d3b637fd94b95b13e',
  19: 'bca9d8b04242f175189872c42ceaa21e2951e0f0f272a0cc54fc37193ff6648600eaf1c555c70cdedfaf9fb74927de7aa1d33dc1e2a7f1a50619484989da0887',
  20: '89a66eb5590a1c94e3f1ee0e72acf49b1669e050bb5f93c73b066b564dca4e0c7556a52b323178269d64af325d8fdddb33da3a27c34409b821de82aa2bf1a27b',
};

/** The development file shipped in the repo (made by scripts/make-dev-ptau.ts) and its pinned hash. */
export const BUNDLED_DEV_PTAU = {
  file: path.join(PACKAGE_ROOT, 'ptau', 'dev-13.ptau'),
  power: 13,
  sha256: '6f927802233059422a4f377ee99d637a242518780d81fea0337a8341f3c40c21',
};

/** Reads the power from a ptau file's header section. */
export async function readPtauPower(file: string): Promise<number> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(64);
    await fh.read(buf, 0, 64, 0);
    if (buf.toString('latin1', 0, 4) !== 'ptau') throw new ZkinferError('SETTINGS', `${file} is not a powers-of-tau file`, 'ptau');
    // magic, version u32, nSections u32, then section 1: type u32, size u64, n8 u32, q (n8 bytes), power u32
    const n8 = buf.readUInt32LE(24);
    return buf.readUInt32LE(28 + n8);
  } finally {
    await fh.close();
  }
}

/**
 * The largest powers-of-tau power the service generates, or sets a circuit up with
 * when the operator supplied no ptau file: generating 2^p takes time and memory
 * exponential in p, and a few-byte model can ask for it. 2^16 covers the largest model
 * the repo proves (ezkl large_mlp, about 40k constraints with its input commitment).
 */
export const DEFAULT_MAX_PTAU_POWER = 16;
export const MAX_PTAU_POWER_ENV = 'ZKINFER_MAX_PTAU_POWER';

/** Reads ZKINFER_MAX_PTAU_POWER (8..28; unset: the default), reporting a bad value as a problem. */
export function maxPtauPowerFromEnv(env: Record<string, string | undefined> = process.env): { maxPtauPower: number; problems: string[] } {
  const raw = env[MAX_PTAU_POWER_ENV];
  if (raw === undefined || raw.trim() === '') return { maxPtauPower: DEFAULT_MAX_PTAU_POWER, problems: [] };
  const v = Number(raw.trim());
  if (!Number.isInteger(v) || v < 8 || v > 28)
    return { maxPtauPower: DEFAULT_MAX_PTAU_POWER, problems: [`${MAX_PTAU_POWER_ENV} must be a whole number from 8 to 28 (got "${raw.slice(0, 40)}")`] };
  return { maxPtauPower: v, problems: [] };
}

/** Refuses a circuit needing 2^needed powers when the service may only go to 2^maxPower. */
export function checkPtauPower(needed: number, maxPower: number, constraints?: number): void {
  if (needed > maxPower) {
    throw new ZkinferError(
      'MODEL_TOO_LARGE',
      `this circuit${constraints === undefined ? '' : ` (${constraints.toLocaleString('en-US')} constraints)`} needs ` +
        `powers of tau 2^${needed}, over the limit maxPtauPower = ${maxPower} (setting ${MAX_PTAU_POWER_ENV}); supply a ` +
        `ceremony ptau file of at least 2^${needed} powers, or raise the setting`,
      'maxPtauPower',
    );
  }
}

/**
 * The first point of a ptau's alphaTauG1 section (alpha*G1, as stored): what every key made
 * on the file has as `vk_alpha_1`. All current development files share it.
 */
export async function readPtauAlphaG1(file: string): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(12);
    await fh.read(head, 0, 12, 0);
    if (head.toString('latin1', 0, 4) !== 'ptau') throw new ZkinferError('SETTINGS', `${file} is not a powers-of-tau file`, 'ptau');
    let pos = 12;
    for (let i = 0; i < head.readUInt32LE(8); i++) {
      const sec = Buffer.alloc(12);
      await fh.read(sec, 0, 12, pos);
      const size = Number(sec.readBigUInt64LE(4));
      if (sec.readUInt32LE(0) === 4) {
        const point = Buffer.alloc(64);
        await fh.read(point, 0, 64, pos + 12);
        return point;
      }
      pos += 12 + size;
    }
    throw new ZkinferError('SETTINGS', `${file} has no alphaTauG1 section`, 'ptau');
  } finally {
    await fh.close();
  }
}

/** Smallest power p with 2^p >= constraints + public inputs + 1, as Groth16 setup needs. */
export function requiredPower(constraints: number, nPublic: number): number {
  return Math.max(8, Math.ceil(Math.log2(constraints + nPublic + 1)));
}

/**
 * An operator's ptau: what the file is, by its bytes (identifyPtau), never by the pin alone.
 * A known public ceremony file is `ceremony`; a development file (the bundled one, or any
 * that shares the published development secrets) is `development` and insecure, pinned or
 * not; any other file is accepted only when its sha256 is the one the operator pinned
 * (`operator-pinned`). A pin that does not match the file is refused whatever the file is.
 * `needed` is the circuit's power (0: no circuit yet); a file with fewer powers is
 * MODEL_TOO_LARGE naming the file.
 */
export async function operatorPtau(file: string, needed: number, pinnedSha256?: string | null, setting = 'ptau'): Promise<PtauInfo> {
  if (!(await exists(file))) throw new ZkinferError('SETTINGS', `ptau file not found: ${file}`, setting);
  const id = await identifyPtau(file);
  const pin = pinnedSha256?.trim().toLowerCase().replace(/^0x/, '');
  if (pin && pin !== id.sha256) throw new ZkinferError('SETTINGS', `ptau sha256 ${id.sha256} does not match the pinned ${pin}`, setting);
  let info: PtauInfo;
  if (id.kind === 'ceremony') info = { file, power: id.power, kind: 'ceremony', insecure: false, name: id.name, sha256: id.sha256 };
  else if (id.kind === 'development') info = { file, power: id.power, kind: 'development', insecure: true, name: id.name, sha256: id.sha256 };
  else if (pin) info = { file, power: id.power, kind: 'operator-pinned', insecure: false, name: id.name, sha256: id.sha256 };
  else throw new ZkinferError('SETTINGS', `${path.basename(file)} is not a known ceremony file; pin its sha256 (${id.sha256}) to use it`, setting);
  if (id.power < needed) {
    throw new ZkinferError(
      'MODEL_TOO_LARGE',
      `this circuit needs powers of tau 2^${needed}; the ptau file ${info.name} (${setting}) has 2^${id.power}: supply a file of at least 2^${needed} powers`,
      setting,
    );
  }
  return info;
}

/**
 * A development ptau of at least `needed` powers: the bundled one when it is large
 * enough, else the smallest cached one under artifacts/ptau that is, else a new one
 * generated once. Each is checked against its recorded sha256 before use.
 */
export async function developmentPtau(needed: number, log: (m: string) => void = () => {}, maxPower = DEFAULT_MAX_PTAU_POWER): Promise<PtauInfo> {
  // Before anything is generated or read: the power is the operator's policy.
  checkPtauPower(needed, maxPower);
  if (needed <= BUNDLED_DEV_PTAU.power && (await exists(BUNDLED_DEV_PTAU.file))) {
    const sha256 = await hashFile(BUNDLED_DEV_PTAU.file, 'sha256');
    if (sha256 !== BUNDLED_DEV_PTAU.sha256) {
      throw new ZkinferError('ARTIFACT_CORRUPT', `bundled development ptau hash mismatch (${sha256}); the file is corrupt`, 'ptau');
    }
    return { file: BUNDLED_DEV_PTAU.file, power: BUNDLED_DEV_PTAU.power, kind: 'development', insecure: true, name: 'zkinfer-dev-13', sha256 };
  }
  const dir = artifactKindDir('ptau');
  // Files cached by the earlier generator (random contributions) have another alpha: they
  // are passed over, so every development key shares the published one.
  const devAlpha = await readPtauAlphaG1(BUNDLED_DEV_PTAU.file);
  const cachedPowers: number[] = [];
  for (const f of (await exists(dir)) ? await readdir(dir) : []) {
    const m = /^dev-(\d+)\.ptau$/.exec(f);
    if (!m || Number(m[1]) < needed || Number(m[1]) > Math.max(maxPower, BUNDLED_DEV_PTAU.power)) continue;
    if (!(await readPtauAlphaG1(path.join(dir, f)).catch(() => Buffer.alloc(0))).equals(devAlpha)) continue;
    cachedPowers.push(Number(m[1]));
  }
  cachedPowers.sort((a, b) => a - b);
  const power = cachedPowers[0] ?? needed;
  const file = path.join(dir, `dev-${power}.ptau`);
  if (cachedPowers.length === 0) {
    log(`generating a development powers-of-tau file (2^${power}); about a minute at 2^16; it happens once`);
    await mkdir(dir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await generateDevPtau(power, tmp, log);
    await writeFile(`${file}.sha256`, (await hashFile(tmp, 'sha256')) + '\n');
    await rename(tmp, file);
  }
  const sha256 = await hashFile(file, 'sha256');
  const recorded = (await readFile(`${file}.sha256`, 'utf8').catch(() => '')).trim();
  if (sha256 !== recorded) throw new ZkinferError('ARTIFACT_CORRUPT', `${file} does not match its recorded sha256; delete it to regenerate`, 'ptau');
  return { file, power, kind: 'development', insecure: true, name: `zkinfer-dev-${power}`, sha256 };
}

/**
 * Names a powers-of-tau file by its bytes, whatever it is called: a known public
 * ceremony file (blake2b-512, as snarkjs publishes them), the bundled development file,
 * or unknown (its sha256 is what to compare with what its maker published).
 */
export async function identifyPtau(file: string): Promise<PtauIdentity> {
  // Hashing a large ceremony file takes seconds: the answer is kept per (file, size, mtime).
  const s = await stat(file);
  const key = `${path.resolve(file)}:${s.ino}:${s.size}:${s.mtimeMs}`;
  let p = identified.get(key);
  if (!p) {
    p = identifyUncached(file);
    identified.set(key, p);
    p.catch(() => identified.delete(key));
  }
  return { ...(await p) };
}

export interface PtauIdentity {
  kind: 'ceremony' | 'development' | 'unknown';
  name: string;
  power: number;
  sha256: string;
  blake2b: string;
}

const identified = new Map<string, Promise<PtauIdentity>>();

async function identifyUncached(file: string): Promise<PtauIdentity> {
  const power = await readPtauPower(file);
  const sha256 = await hashFile(file, 'sha256');
  const blake2b = await hashFile(file, 'blake2b512');
  const known = Object.entries(HERMEZ_BLAKE2B).find(([, h]) => h === blake2b);
  if (known) return { kind: 'ceremony', name: `powersOfTau28_hez_final_${known[0].padStart(2, '0')}`, power, sha256, blake2b };
  if (sha256 === BUNDLED_DEV_PTAU.sha256) return { kind: 'development', name: `zkinfer-dev-${BUNDLED_DEV_PTAU.power}`, power, sha256, blake2b };
  // Every development file (any size) shares the bundled one's alpha: its secrets are published.
  // (A file made to carry that alpha is called development too: never trusted either way.)
  if ((await readPtauAlphaG1(file)).equals(await readPtauAlphaG1(BUNDLED_DEV_PTAU.file)))
    return { kind: 'development', name: `zkinfer-dev-${power}`, power, sha256, blake2b };
  return { kind: 'unknown', name: path.basename(file), power, sha256, blake2b };
}
