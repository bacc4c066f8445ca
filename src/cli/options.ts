import { readFile, rename, writeFile } from 'node:fs/promises';
import { Command, InvalidArgumentError } from 'commander';
import { ZkinferError } from '../errors.ts';
import type { QuantSettings } from '../quant/settings.ts';

export function intOption(name: string) {
  return (v: string): number => {
    if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${name} must be a whole number`);
    return Number(v);
  };
}

export function bigintOption(name: string) {
  return (v: string): bigint => {
    if (!/^(0|[1-9]\d*)$/.test(v)) throw new InvalidArgumentError(`${name} must be a non-negative decimal integer`);
    return BigInt(v);
  };
}

/** --scale / --bits, shared by every command that builds a circuit. */
export function withSettings(cmd: Command): Command {
  return cmd
    .option('--scale <n>', 'fixed-point scale bits: values are stored as round(v * 2^n) (default 10)', intOption('--scale'))
    .option('--bits <n>', 'accumulator width in bits; activations get bits - scale (default 32)', intOption('--bits'))
    .option('--public-input', 'put the quantized input in the public signals instead of a commitment to it');
}

export function settingsFrom(o: { scale?: number; bits?: number }): Partial<QuantSettings> {
  return { ...(o.scale !== undefined ? { scaleBits: o.scale } : {}), ...(o.bits !== undefined ? { bits: o.bits } : {}) };
}

/** --ptau / --ptau-sha256, shared by setup and prove. */
export function withPtau(cmd: Command): Command {
  return cmd
    .option('--ptau <file>', 'powers-of-tau file from a public ceremony (default: an insecure development file)')
    .option('--ptau-sha256 <hex>', 'pin the sha256 of a --ptau file that is not a known ceremony file');
}

export async function readJsonFile(file: string, field: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ZkinferError('NOT_FOUND', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, field);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ZkinferError('INPUT_VALUE', `${file} is not valid JSON: ${(e as Error).message}`, field);
  }
}

/** Writes through a temp file and a rename, so a reader never sees half a file. */
export async function writeJsonFile(file: string, doc: unknown): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(doc, null, 2) + '\n');
  await rename(tmp, file);
}

export const progress = (m: string) => process.stderr.write(`${m}\n`);
