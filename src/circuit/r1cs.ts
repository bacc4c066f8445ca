import { readFile } from 'node:fs/promises';
import { FIELD_ORDER } from '../fixed/field.ts';

/**
 * A minimal reader for circom's .r1cs format (header and constraints), so tests and
 * tools can count constraints and check a witness without loading a proving stack.
 */
export interface R1csHeader {
  nWires: number;
  nPubOut: number;
  nPubIn: number;
  nPrvIn: number;
  nConstraints: number;
}

type LinearCombination = Map<number, bigint>;
export type Constraint = [LinearCombination, LinearCombination, LinearCombination];

function sections(buf: Buffer): Map<number, { start: number; size: number }> {
  if (buf.toString('latin1', 0, 4) !== 'r1cs') throw new Error('not an r1cs file');
  const n = buf.readUInt32LE(8);
  const out = new Map<number, { start: number; size: number }>();
  let off = 12;
  for (let i = 0; i < n; i++) {
    const type = buf.readUInt32LE(off);
    const size = Number(buf.readBigUInt64LE(off + 4));
    out.set(type, { start: off + 12, size });
    off += 12 + size;
  }
  return out;
}

function readHeader(buf: Buffer, start: number): R1csHeader & { n8: number } {
  const n8 = buf.readUInt32LE(start);
  let o = start + 4 + n8;
  const nWires = buf.readUInt32LE(o);
  const nPubOut = buf.readUInt32LE(o + 4);
  const nPubIn = buf.readUInt32LE(o + 8);
  const nPrvIn = buf.readUInt32LE(o + 12);
  o += 16 + 8; // nLabels (u64)
  const nConstraints = buf.readUInt32LE(o);
  return { n8, nWires, nPubOut, nPubIn, nPrvIn, nConstraints };
}

export async function readR1csHeader(file: string): Promise<R1csHeader> {
  const buf = await readFile(file);
  const h = readHeader(buf, sections(buf).get(1)!.start);
  return { nWires: h.nWires, nPubOut: h.nPubOut, nPubIn: h.nPubIn, nPrvIn: h.nPrvIn, nConstraints: h.nConstraints };
}

function readLE(buf: Buffer, off: number, n8: number): bigint {
  let v = 0n;
  for (let i = n8 - 1; i >= 0; i--) v = (v << 8n) | BigInt(buf[off + i]);
  return v;
}

export async function readR1csConstraints(file: string): Promise<Constraint[]> {
  const buf = await readFile(file);
  const secs = sections(buf);
  const h = readHeader(buf, secs.get(1)!.start);
  let o = secs.get(2)!.start;
  const out: Constraint[] = [];
  for (let c = 0; c < h.nConstraints; c++) {
    const lcs: LinearCombination[] = [];
    for (let k = 0; k < 3; k++) {
      const n = buf.readUInt32LE(o);
      o += 4;
      const lc: LinearCombination = new Map();
      for (let i = 0; i < n; i++) {
        lc.set(buf.readUInt32LE(o), readLE(buf, o + 4, h.n8));
        o += 4 + h.n8;
      }
      lcs.push(lc);
    }
    out.push(lcs as Constraint);
  }
  return out;
}

const evalLc = (lc: LinearCombination, w: bigint[]): bigint => {
  let acc = 0n;
  for (const [i, c] of lc) acc += c * w[i];
  return acc % FIELD_ORDER;
};

/** Index of the first constraint the witness violates, or -1 when all hold. */
export function firstViolated(constraints: Constraint[], witness: bigint[]): number {
  for (let i = 0; i < constraints.length; i++) {
    const [a, b, c] = constraints[i];
    if ((evalLc(a, witness) * evalLc(b, witness) - evalLc(c, witness)) % FIELD_ORDER !== 0n) return i;
  }
  return -1;
}
