import { chmod, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import { randomSalt } from '../prover/commitment.ts';
import { ZkinferError } from '../core/errors.ts';
import { loadModel, parseInput, readInputRows } from '../model/index.ts';
import { DEFAULT_MODEL_LIMITS, MODEL_LIMIT_ENV, type ModelLimits, modelLimitsFromEnv, parseLimit } from '../model/limits.ts';
import { DEFAULT_MAX_PTAU_POWER, MAX_PTAU_POWER_ENV, maxPtauPowerFromEnv } from '../prover/ptau.ts';
import type { CompileOptions } from '../pipeline/index.ts';
import type { QuantSettings } from '../fixed/settings.ts';
import { protectedFrom } from '../quant/explain.ts';

export function intOption(name: string) {
  return (v: string): number => {
    if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${name} must be a whole number`);
    return Number(v);
  };
}

/** A fraction strictly between 0 and 1 (0.01 is 1%). */
export function fractionOption(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^(0?\.\d+|\d+(\.\d+)?(e-?\d+)?)$/i.test(v) || !(n > 0 && n < 1))
      throw new InvalidArgumentError(`${name} must be a fraction between 0 and 1, e.g. 0.01`);
    return n;
  };
}

export function bigintOption(name: string) {
  return (v: string): bigint => {
    if (!/^(0|[1-9]\d*)$/.test(v)) throw new InvalidArgumentError(`${name} must be a non-negative decimal integer`);
    return BigInt(v);
  };
}

/** The CLI flag of a model limit: ZKINFER_MAX_CONSTRAINTS is --max-constraints (its option key is the limit's name). */
export function limitFlag(limit: keyof ModelLimits): string {
  return `--${MODEL_LIMIT_ENV[limit]
    .replace(/^ZKINFER_/, '')
    .toLowerCase()
    .replaceAll('_', '-')}`;
}

function limitOption(flag: string) {
  return (v: string): number => {
    const n = parseLimit(v);
    if (n === null) throw new InvalidArgumentError(`${flag} must be a positive whole number`);
    return n;
  };
}

/** One --max-* flag per model limit, each defaulting to its ZKINFER_MAX_* setting, then the built-in default. */
function withLimits(cmd: Command): Command {
  for (const key of Object.keys(MODEL_LIMIT_ENV) as (keyof ModelLimits)[]) {
    const flag = limitFlag(key);
    cmd.option(
      `${flag} <n>`,
      `model limit ${key} (default ${DEFAULT_MODEL_LIMITS[key].toLocaleString('en-US')}, or the setting ${MODEL_LIMIT_ENV[key]})`,
      limitOption(flag),
    );
  }
  return cmd;
}

/**
 * The model limits a command applies: the ZKINFER_MAX_* settings (as the service reads
 * them; a bad one is a SETTINGS error naming it), each replaced by its --max-* flag.
 */
export function limitsFrom(o: Partial<ModelLimits>): ModelLimits {
  const { limits, problems } = modelLimitsFromEnv(process.env);
  if (problems.length) throw new ZkinferError('SETTINGS', problems.join('; '), problems[0].split(' ')[0]);
  for (const key of Object.keys(MODEL_LIMIT_ENV) as (keyof ModelLimits)[]) if (o[key] !== undefined) limits[key] = o[key];
  return limits;
}

/** --scale / --bits / --public-input / --calibration / --input-range / --max-*, shared by every command that builds a circuit. */
export function withSettings(cmd: Command): Command {
  return withLimits(cmd)
    .option(
      '--scale <n>',
      'fixed-point scale bits: values are stored as round(v * 2^n) (default 10; given alone, --bits defaults to n + 22)',
      intOption('--scale'),
    )
    .option('--bits <n>', 'accumulator width in bits; activations get bits - scale (default 32, or --scale + 22)', intOption('--bits'))
    .option('--public-input', 'put the quantized input in the public signals instead of a commitment to it')
    .option(
      '--calibration <file>',
      "rows of real inputs (CSV with a header of input names, or JSON rows): each feature's scale and width follow its observed range",
    )
    .option('--labels <names>', 'decision names, comma separated: "decline,approve" (0, then 1) for a sigmoid head, one per class for softmax or argmax')
    .addOption(
      new Option(
        '--visibility <mode>',
        'public (default): the parameters are constants of the circuit; private: a private witness bound by a commitment (needs --blinding)',
      ).choices(['public', 'private']),
    )
    .option(
      '--blinding <file>',
      "a private model's secret blinding value (JSON, created with a fresh random value if the file does not exist): keep it with the model file",
    )
    .option(
      '--input-range <name=lo:hi>',
      "a feature's range in real units, e.g. income=0:500000 (repeatable; wins over --calibration)",
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option('--reasons <k>', 'prove the k principal reasons of each decision (the features that lowered the score most)', intOption('--reasons'))
    .option('--baseline <file>', "the reasons' baseline, written as an input is (JSON; default: the mean of the --calibration rows)")
    .option(
      '--protected <name[=v1,v2]>',
      'prove whether the decision stays the same with this feature set to each value (a categorical column: all its categories by default; repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    );
}

export interface SettingsOptions extends Partial<ModelLimits> {
  scale?: number;
  bits?: number;
  publicInput?: boolean;
  calibration?: string;
  inputRange?: string[];
  labels?: string;
  visibility?: 'public' | 'private';
  blinding?: string;
  reasons?: number;
  baseline?: string;
  protected?: string[];
}

/** `--protected name=v1,v2`: shared with the REST upload (src/quant/explain.ts). */
export { protectedFrom };

export const BLINDING_FORMAT = 'zkinfer.blinding';

/**
 * A private model's blinding value from `--blinding <file>`: read, or (with `create`, when
 * the file does not exist) drawn at random and written with mode 0600. Undefined for a
 * public model.
 */
export async function blindingFrom(o: Pick<SettingsOptions, 'visibility' | 'blinding'>, create: boolean): Promise<bigint | undefined> {
  if (o.visibility !== 'private') {
    if (o.blinding !== undefined) throw new ZkinferError('SETTINGS', '--blinding goes with --visibility private', 'blinding');
    return undefined;
  }
  if (o.blinding === undefined) {
    throw new ZkinferError(
      'SETTINGS',
      '--visibility private needs --blinding <file>' +
        (create ? ' (a new random one is written there if the file does not exist)' : ': the blinding the model was registered with'),
      'blinding',
    );
  }
  let exists = true;
  try {
    await readFile(o.blinding);
  } catch {
    exists = false;
  }
  if (!exists && create) {
    const blinding = randomSalt();
    await writeFile(o.blinding, JSON.stringify({ format: BLINDING_FORMAT, blinding: blinding.toString() }, null, 2) + '\n', { flag: 'wx', mode: 0o600 });
    progress(`wrote a new blinding value to ${o.blinding}: keep it secret, and with the model file (proving and auditing need it)`);
    return blinding;
  }
  const doc = await readJsonFile(o.blinding, 'blinding');
  const v = (doc as { format?: unknown; blinding?: unknown } | null)?.blinding;
  if ((doc as { format?: unknown } | null)?.format !== BLINDING_FORMAT || typeof v !== 'string' || !/^[1-9]\d{0,77}$/.test(v))
    throw new ZkinferError('INPUT_VALUE', `${o.blinding} is not a blinding file: {"format": "${BLINDING_FORMAT}", "blinding": "<decimal>"}`, 'blinding');
  return BigInt(v);
}

export function settingsFrom(o: { scale?: number; bits?: number }): Partial<QuantSettings> {
  return { ...(o.scale !== undefined ? { scaleBits: o.scale } : {}), ...(o.bits !== undefined ? { bits: o.bits } : {}) };
}

const NUM = '-?(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][-+]?\\d+)?';
const RANGE = new RegExp(`^([^=]+)=(${NUM}):(${NUM})$`);

/** The compile options a model's settings flags stand for (reads the calibration file). */
export async function modelOptionsFrom(
  model: string,
  o: SettingsOptions,
  createBlinding = true,
): Promise<Pick<CompileOptions, 'settings' | 'publicInput' | 'calibration' | 'inputRanges' | 'labels' | 'visibility' | 'blinding' | 'explain' | 'limits'>> {
  const inputRanges: Record<string, [number, number]> = {};
  for (const r of o.inputRange ?? []) {
    const m = RANGE.exec(r.trim());
    if (!m) throw new ZkinferError('SETTINGS', `--input-range must look like name=lo:hi (got "${r}")`, 'input-range');
    inputRanges[m[1]] = [Number(m[2]), Number(m[3])];
  }
  const limits = limitsFrom(o);
  const explaining = (o.reasons ?? 0) > 0 || (o.protected ?? []).length > 0;
  const ir = o.calibration || explaining ? (await loadModel(model, { limits })).ir : undefined;
  const calibration = o.calibration ? (await readInputRows(o.calibration, ir!, { labelHint: '--label-column' })).rows : undefined;
  const labels = o.labels?.split(',').map((l) => l.trim());
  const blinding = await blindingFrom(o, createBlinding);
  if (o.baseline !== undefined && !o.reasons) throw new ZkinferError('SETTINGS', '--baseline goes with --reasons', 'baseline');
  const baseline = o.baseline !== undefined ? parseInput(await readJsonFile(o.baseline, 'baseline'), ir!) : undefined;
  return {
    ...(explaining ? { explain: { reasons: o.reasons ?? 0, ...(baseline ? { baseline } : {}), protected: protectedFrom(o.protected ?? []) } } : {}),
    settings: settingsFrom(o),
    publicInput: o.publicInput,
    calibration,
    inputRanges,
    labels,
    ...(blinding !== undefined ? { visibility: 'private' as const, blinding } : {}),
    limits,
  };
}

/** --ptau / --ptau-sha256 / --max-ptau-power, shared by setup and prove. */
export function withPtau(cmd: Command): Command {
  return cmd
    .option('--ptau <file>', 'powers-of-tau file from a public ceremony (default: an insecure development file)')
    .option('--ptau-sha256 <hex>', 'pin the sha256 of a --ptau file that is not a known ceremony file')
    .option(
      '--max-ptau-power <n>',
      `largest development powers of tau generated or used without --ptau, 8 to 28 (default ${DEFAULT_MAX_PTAU_POWER}, or the setting ${MAX_PTAU_POWER_ENV})`,
      (v: string) => {
        if (!/^\d{1,2}$/.test(v) || Number(v) < 8 || Number(v) > 28) throw new InvalidArgumentError('--max-ptau-power must be a whole number from 8 to 28');
        return Number(v);
      },
    );
}

export interface PtauOptions {
  ptau?: string;
  ptauSha256?: string;
  maxPtauPower?: number;
}

/** The setup options of --ptau, --ptau-sha256 and --max-ptau-power (else ZKINFER_MAX_PTAU_POWER, checked as the service checks it). */
export function ptauOptionsFrom(o: PtauOptions): { ptau?: string; ptauSha256?: string; maxPtauPower: number; log: (m: string) => void } {
  let maxPtauPower = o.maxPtauPower;
  if (maxPtauPower === undefined) {
    const env = maxPtauPowerFromEnv(process.env);
    if (env.problems.length) throw new ZkinferError('SETTINGS', env.problems.join('; '), MAX_PTAU_POWER_ENV);
    maxPtauPower = env.maxPtauPower;
  }
  return { ptau: o.ptau, ptauSha256: o.ptauSha256, maxPtauPower, log: progress };
}

/**
 * Reads and parses a JSON file the user named. Error messages quote what they show of
 * the file's text printably, and a binary file (a model passed where the input goes) is
 * named as such instead of being echoed into the terminal.
 */
export async function readJsonFile(file: string, field: string): Promise<unknown> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw new ZkinferError('NOT_FOUND', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, field);
  }
  const text = utf8(bytes);
  if (text === undefined || looksBinary(text)) throw new ZkinferError('INPUT_VALUE', `${file} is not a JSON file (it looks binary)`, field);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ZkinferError('INPUT_VALUE', `${file} is not valid JSON: ${printable((e as Error).message)}`, field);
  }
}

function utf8(bytes: Uint8Array): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

/** Holding control characters JSON text never has (NUL, ESC, ...). */
function looksBinary(text: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u0008\u000e-\u001f\u007f]/.test(text.slice(0, 4096));
}

/** Control characters escaped as \uXXXX, long text cut: safe to print to a terminal. */
export function printable(s: string, max = 300): string {
  // eslint-disable-next-line no-control-regex
  const escaped = s.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return escaped.length > max ? `${escaped.slice(0, max)}...` : escaped;
}

/**
 * Writes through a temp file and a rename, so a reader never sees half a file. `mode`
 * 0o600 for a file only its owner may read (a receipt holds the applicant's salt and
 * features): the temp file is created with it, so no other user can open it meanwhile.
 */
export async function writeJsonFile(file: string, doc: unknown, mode?: number): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await rm(tmp, { force: true });
  await writeFile(tmp, JSON.stringify(doc, null, 2) + '\n', { flag: 'wx', ...(mode !== undefined ? { mode } : {}) });
  // Whatever the umask: the mode asked for.
  if (mode !== undefined) await chmod(tmp, mode);
  await rename(tmp, file);
}

export const progress = (m: string) => process.stderr.write(`${m}\n`);

/** The trust-policy flags of every command that judges a setup (verify, audit, release, ceremony verify). */
export function withTrustPolicy(cmd: Command): Command {
  return cmd
    .option(
      '--require-trusted-setup',
      'exit 1 unless phase 1 is established from a published ceremony ptau (or one passed with --trust-ptau) and the setup is not a development one',
    )
    .option(
      '--min-independent-contributions <n>',
      "exit 1 unless phase 2 has at least n contributions known to be independent of the model's owner (--independent-contribution)",
      intOption('--min-independent-contributions'),
    );
}

export interface TrustPolicyOptions {
  requireTrustedSetup?: boolean;
  minIndependentContributions?: number;
}

/** What the checker itself trusts, for the commands that judge a setup from its files (audit, release, ceremony verify). */
export function withTrustedHashes(cmd: Command): Command {
  return cmd
    .option(
      '--trust-ptau <hash>',
      'the sha256 or blake2b-512 of a ptau file you trust besides the published ceremony files (repeatable)',
      hashList('--trust-ptau', [32, 64]),
      [] as string[],
    )
    .option(
      '--independent-contribution <hash>',
      "a phase-2 contribution hash (blake2b-512, as contributors publish them) you know was not made by the model's owner, e.g. your own (repeatable)",
      hashList('--independent-contribution', [64]),
      [] as string[],
    );
}

export interface TrustedHashesOptions {
  trustPtau: string[];
  independentContribution: string[];
}

/** Hex hashes from repeatable flags: 64 (sha256) or 128 (blake2b-512) hex digits, 0x allowed. */
export function hashList(flag: string, bytes: number[]) {
  return (v: string, acc: string[]): string[] => {
    const h = v.trim().toLowerCase().replace(/^0x/, '');
    if (!/^[0-9a-f]+$/.test(h) || !bytes.includes(h.length / 2)) {
      throw new InvalidArgumentError(`${flag} must be ${bytes.map((b) => `${b * 2}`).join(' or ')} hex digits`);
    }
    return [...acc, h];
  };
}
