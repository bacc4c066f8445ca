import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';
import type { ProofBundle } from '../bundle/format.ts';
import { artifactStore } from '../core/artifact-store.ts';
import { artifactDir, artifactKindDir } from '../core/artifacts.ts';
import { readJson, writeJsonAtomic } from './json-file.ts';

const PROOF_ID = /^[0-9a-f-]{36}$/;

function dir(id: string): string {
  if (!PROOF_ID.test(id)) throw new Error(`not a proof id: ${id}`);
  return artifactDir('proof', id);
}

/**
 * Receipts in Redis, for APIs and workers on machines with their own disks: the worker that
 * made the proof is not the API that hands the receipt over. Kept with Redis's own expiry
 * (the receipt TTL), never in the artifact store or the database.
 */
let sharedReceipts: { redis: Redis; prefix: string; ttlMs: number } | null = null;

/** Keeps receipts in Redis from now on (the API and worker entry points, several machines). */
export function shareReceipts(s: { redis: Redis; prefix: string; ttlMs: number } | null): void {
  sharedReceipts = s;
}

const receiptKey = (id: string) => `${sharedReceipts!.prefix}:receipt:${id}`;

/**
 * A finished proof's files: artifacts/proofs/<id>/bundle.json and, for a committed input,
 * receipt.json. The receipt holds the applicant's salt and features: it is written 0600,
 * handed over, and deleted when it expires or on request.
 */
export async function saveProofResult(id: string, bundle: ProofBundle, receipt: unknown | null): Promise<void> {
  await writeJsonAtomic(path.join(dir(id), 'bundle.json'), bundle);
  // A shared store: the API on another machine serves the bundle from there.
  await artifactStore().putFiles([path.join(dir(id), 'bundle.json')]);
  if (receipt && sharedReceipts) await sharedReceipts.redis.set(receiptKey(id), JSON.stringify(receipt), 'PX', Math.max(1, sharedReceipts.ttlMs));
  else if (receipt) await writeJsonAtomic(path.join(dir(id), 'receipt.json'), receipt, { mode: 0o600 });
}

/** The bundle, fetched from a shared store into this node's folder (checked by hash) when it is not there. */
export async function readBundle(id: string): Promise<ProofBundle | null> {
  const file = path.join(dir(id), 'bundle.json');
  if (!(await artifactStore().fetch(file))) return null;
  return readJson<ProofBundle>(file);
}

/** The receipt, or null when there is none (a public input) or it expired or was erased. */
export async function readReceipt(id: string, ttlMs: number = Infinity): Promise<unknown> {
  if (sharedReceipts) {
    const text = await sharedReceipts.redis.get(receiptKey(id));
    return text === null ? null : JSON.parse(text);
  }
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
  if (sharedReceipts) return (await sharedReceipts.redis.del(receiptKey(id))) > 0;
  if (!(await stat(file).catch(() => null))) return false;
  await rm(file, { force: true });
  return true;
}

/** Deletes every receipt older than `ttlMs` (by the time it was written); returns how many. */
export async function sweepReceipts(ttlMs: number): Promise<number> {
  // In Redis, each receipt expires by itself.
  if (sharedReceipts) return 0;
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
