import path from 'node:path';
import type { ProofBundle } from '../prover/bundle.ts';
import { artifactDir } from './paths.ts';
import { readJson, writeJsonAtomic } from './json-file.ts';

const PROOF_ID = /^[0-9a-f-]{36}$/;

function dir(id: string): string {
  if (!PROOF_ID.test(id)) throw new Error(`not a proof id: ${id}`);
  return artifactDir('proof', id);
}

/** A finished proof's files: artifacts/proofs/<id>/bundle.json and, for a committed input, receipt.json. */
export async function saveProofResult(id: string, bundle: ProofBundle, receipt: unknown | null): Promise<void> {
  await writeJsonAtomic(path.join(dir(id), 'bundle.json'), bundle);
  if (receipt) await writeJsonAtomic(path.join(dir(id), 'receipt.json'), receipt);
}

export function readBundle(id: string): Promise<ProofBundle | null> {
  return readJson<ProofBundle>(path.join(dir(id), 'bundle.json'));
}

export function readReceipt(id: string): Promise<unknown> {
  return readJson(path.join(dir(id), 'receipt.json'));
}
