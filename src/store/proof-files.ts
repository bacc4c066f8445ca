import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ProofBundle } from '../bundle/format.ts';
import { artifactDir, artifactKindDir } from '../core/artifacts.ts';
import { readJson, writeJsonAtomic } from './json-file.ts';

const PROOF_ID = /^[0-9a-f-]{36}$/;

function dir(id: string): string {
  if (!PROOF_ID.test(id)) throw new Error(`not a proof id: ${id}`);
  return artifactDir('proof', id);
}

/**
 * A finished proof's files: artifacts/proofs/<id>/bundle.json and, for a committed input,
 * receipt.json. The receipt holds the applicant's salt and features: it is written 0600,
 * handed over, and deleted when it expires or on request.
 */
export async function saveProofResult(id: string, bundle: ProofBundle, receipt: unknown | null): Promise<void> {
  await writeJsonAtomic(path.join(dir(id), 'bundle.json'), bundle);
  if (receipt) await writeJsonAtomic(path.join(dir(id), 'receipt.json'), receipt, { mode: 0o600 });
}

export function readBundle(id: string): Promise<ProofBundle | null> {
  return readJson<ProofBundle>(path.join(dir(id), 'bundle.json'));
}

/** The receipt, or null when there is none (a public input) or it expired or was erased. */
export async function readReceipt(id: string, ttlMs: number = Infinity): Promise<unknown> {
  const file = path.join(dir(id), 'receipt.json');
  const s = await stat(file).catch(() => null);
  if (!s) return null;
  // Past its lifetime it is gone now, whether or not the sweeper came by yet.
  if (Date.now() - s.mtimeMs > ttlMs) {
    await rm(file, { force: true });
    return null;
  }
  return readJson(file);
}

/** Erases a proof's receipt; false when there was none. */
export async function eraseReceipt(id: string): Promise<boolean> {
  const file = path.join(dir(id), 'receipt.json');
  if (!(await stat(file).catch(() => null))) return false;
  await rm(file, { force: true });
  return true;
}

/** Deletes every receipt older than `ttlMs` (by the time it was written); returns how many. */
export async function sweepReceipts(ttlMs: number): Promise<number> {
  const root = artifactKindDir('proof');
  const ids = await readdir(root).catch(() => [] as string[]);
  let n = 0;
  for (const id of ids) {
    if (!PROOF_ID.test(id)) continue;
    const file = path.join(root, id, 'receipt.json');
    const s = await stat(file).catch(() => null);
    if (s && Date.now() - s.mtimeMs > ttlMs) {
      await rm(file, { force: true });
      n++;
    }
  }
  return n;
}
