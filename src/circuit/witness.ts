import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { toField } from '../fixed/field.ts';

const require = createRequire(import.meta.url);

interface WitnessCalculator {
  calculateWitness(input: Record<string, unknown>, sanityCheck: boolean): Promise<bigint[]>;
  calculateWTNSBin(input: Record<string, unknown>, sanityCheck: boolean): Promise<Uint8Array>;
}

export type CircuitInput = Record<string, bigint | bigint[]>;

export interface LoadedWitnessCalculator {
  /** The full witness, as field elements. */
  witness(input: CircuitInput): Promise<bigint[]>;
  /** The witness in snarkjs's .wtns format, for the prover. */
  wtns(input: CircuitInput): Promise<Uint8Array>;
}

function encode(input: CircuitInput): Record<string, string | string[]> {
  const enc: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(input)) enc[k] = Array.isArray(v) ? v.map((e) => toField(e).toString()) : toField(v).toString();
  return enc;
}

/**
 * Loads circom's generated witness calculator for a compiled circuit once, so a
 * long-lived process computes many witnesses without re-reading the wasm.
 */
export async function loadWitnessCalculator(wasmFile: string, wasmBytes?: Uint8Array): Promise<LoadedWitnessCalculator> {
  const builder = require(path.join(path.dirname(wasmFile), 'witness_calculator.js')) as (code: Buffer, opts?: object) => Promise<WitnessCalculator>;
  const wc = await builder(Buffer.from(wasmBytes ?? (await readFile(wasmFile))));
  return {
    witness: (input) => wc.calculateWitness(encode(input), true),
    wtns: (input) => wc.calculateWTNSBin(encode(input), true),
  };
}

/** Reads a circom .sym file: signal name -> witness index (signals removed by the optimizer are left out). */
export async function readSymbols(symFile: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await readFile(symFile, 'utf8')).split('\n')) {
    if (!line) continue;
    const [, widx, , name] = line.split(',');
    const idx = Number(widx);
    if (idx >= 0) out.set(name, idx);
  }
  return out;
}
