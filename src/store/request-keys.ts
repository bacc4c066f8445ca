import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { artifactRoot } from '../core/artifacts.ts';

/**
 * Crypto-shredding for private requests. A request's body is stored in the database
 * encrypted (AES-256-GCM) under a key of its own, and the key lives in a file of its own
 * (mode 0600) under `artifacts/request-keys/`. When the proof ends the key file is deleted:
 * whatever copies of the ciphertext the database still holds (its write-ahead log, pages
 * not yet reused, backups) can no longer be read. APIs and workers on machines of their own
 * keep the keys in Redis instead (redis-request-keys.ts).
 */
export interface SealedRequest {
  /** Format: AES-256-GCM, key file per request. */
  sealed: 1;
  iv: string;
  tag: string;
  data: string;
}

const ID = /^[0-9a-f-]{36}$/;

/** Where the per-request keys live: files on this machine (RequestKeys) or Redis (RedisRequestKeys, for several machines). */
export interface RequestKeyStore {
  seal(id: string, body: unknown): Promise<SealedRequest>;
  open<T>(id: string, sealed: SealedRequest): Promise<T | null>;
  erase(id: string): Promise<void>;
  sweep(isOpen: (ids: string[]) => Promise<Set<string>>, minAgeMs: number): Promise<number>;
}

/** Encrypts `body` under `key` (AES-256-GCM, the proof id as associated data). */
export function sealWith(key: Buffer, id: string, body: unknown): SealedRequest {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from(id));
  const data = Buffer.concat([c.update(JSON.stringify(body), 'utf8'), c.final()]);
  return { sealed: 1, iv: iv.toString('base64'), tag: c.getAuthTag().toString('base64'), data: data.toString('base64') };
}

/** The sealed body, or null when it does not open under `key`. */
export function openWith<T>(key: Buffer, id: string, sealed: SealedRequest): T | null {
  try {
    const d = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64'));
    d.setAAD(Buffer.from(id));
    d.setAuthTag(Buffer.from(sealed.tag, 'base64'));
    return JSON.parse(Buffer.concat([d.update(Buffer.from(sealed.data, 'base64')), d.final()]).toString('utf8')) as T;
  } catch {
    return null;
  }
}

export function isRequestId(id: string): boolean {
  return ID.test(id);
}

export class RequestKeys implements RequestKeyStore {
  readonly dir: string;
  constructor(dir?: string) {
    this.dir = dir ?? path.join(artifactRoot(), 'request-keys');
  }

  private file(id: string): string {
    if (!ID.test(id)) throw new Error('a request key is named by its proof id');
    return path.join(this.dir, `${id}.key`);
  }

  /** Makes the request's key (on disk, synced, 0600) and returns the sealed body. */
  async seal(id: string, body: unknown): Promise<SealedRequest> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const key = randomBytes(32);
    const fh = await open(this.file(id), 'wx', 0o600);
    try {
      await fh.writeFile(key);
      await fh.sync();
    } finally {
      await fh.close();
    }
    return sealWith(key, id, body);
  }

  /** The request, or null when its key is gone (erased) or it does not open. */
  async open<T>(id: string, sealed: SealedRequest): Promise<T | null> {
    let key: Buffer;
    try {
      key = await readFile(this.file(id));
    } catch {
      return null;
    }
    return openWith<T>(key, id, sealed);
  }

  /** Deletes the request's key: its ciphertext, wherever it remains, is unreadable from now on. */
  async erase(id: string): Promise<void> {
    await unlink(this.file(id)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
  }

  /**
   * Deletes key files older than `minAgeMs` whose request is no longer open (`isOpen`
   * false): keys left by an acceptance that rolled back, or by a process that died between
   * a proof's end and the key's deletion.
   */
  async sweep(isOpen: (ids: string[]) => Promise<Set<string>>, minAgeMs: number): Promise<number> {
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter((n) => n.endsWith('.key') && ID.test(n.slice(0, -4)));
    } catch {
      return 0;
    }
    const old: string[] = [];
    for (const n of names) {
      const s = await stat(path.join(this.dir, n)).catch(() => null);
      if (s && Date.now() - s.mtimeMs >= minAgeMs) old.push(n.slice(0, -4));
    }
    return eraseClosed(this, old, isOpen);
  }
}

/** The sweep's last step, for every key store: erases the keys among `ids` whose request is no longer open; how many. */
export async function eraseClosed(store: Pick<RequestKeyStore, 'erase'>, ids: string[], isOpen: (ids: string[]) => Promise<Set<string>>): Promise<number> {
  if (!ids.length) return 0;
  const open = await isOpen(ids);
  let removed = 0;
  for (const id of ids) {
    if (open.has(id)) continue;
    await store.erase(id);
    removed++;
  }
  return removed;
}

export function isSealed(body: unknown): body is SealedRequest {
  return typeof body === 'object' && body !== null && (body as { sealed?: unknown }).sealed === 1;
}
