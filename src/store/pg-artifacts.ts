import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat, utimes } from 'node:fs/promises';
import path from 'node:path';
import { type ArtifactStore, artifactName, filesUnder } from '../core/artifact-store.ts';
import { artifactRoot } from '../core/artifacts.ts';
import { ZkinferError } from '../core/errors.ts';
import type { Db } from './db.ts';

/** Bytes per stored row: a zkey of hundreds of MB is many rows, each fetched on its own. */
export const PART_BYTES = 4 << 20;
/** The folders of the local cache that hold stored artifacts (what eviction may delete). */
const CACHED_FOLDERS = ['circuits', 'uploads', 'proofs'];
/** A file used this recently is never evicted (a prover may be loading it). */
const IN_USE_MS = 60_000;
/** The cache is walked (and trimmed) at most this often. */
const TRIM_EVERY_MS = 30_000;
/** A half-downloaded file this old belongs to no running download. */
const STALE_PART_MS = 3600_000;
/** A blob no name points at is deleted once it is this old (its name may be on its way). */
const ORPHAN_AGE_MS = 3600_000;

interface FileRow {
  path: string;
  sha256: string;
  size: string | number;
}

async function sha256OfFile(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * The artifact store in PostgreSQL (migration 010): every file's bytes once, named by their
 * sha256 (artifact_blobs, in rows of PART_BYTES in artifact_parts), and the names that point
 * at them (artifact_files: a path under the artifact root, and its group: the published
 * directory or the folder it belongs to). A published directory is one unit (artifact_units):
 * the first node to record it wins, and the others take its files.
 *
 * The local artifact folder is this node's cache: a file is fetched on first use, its bytes
 * checked against their sha256 before they are renamed into place, and a cached copy is
 * checked again (once per size and mtime) before it is used. A copy that differs is fetched
 * again; stored bytes that differ are refused (ARTIFACT_CORRUPT, naming the artifact). The
 * cache is kept under `cacheBytes` by deleting the least recently used files (by mtime).
 */
export class PgArtifactStore implements ArtifactStore {
  readonly kind = 'postgres';
  /** `path:size:mtime` of a local file -> its sha256, so a warm file is hashed once. */
  private readonly hashed = new Map<string, string>();
  private trimming: Promise<void> | null = null;
  private trimmedAt = 0;

  constructor(
    private readonly db: Db,
    private readonly opts: { cacheBytes: number; log?: (m: string) => void },
  ) {}

  async publishDir(dir: string, names: string[]): Promise<void> {
    const unit = artifactName(dir);
    const files: { path: string; sha256: string; size: number }[] = [];
    for (const n of names) files.push({ path: `${unit}/${n}`, ...(await this.putBlob(path.join(dir, ...n.split('/')))) });
    const won = await this.db.tx(async (q) => {
      if (!(await q.query('INSERT INTO artifact_units (path) VALUES ($1) ON CONFLICT DO NOTHING RETURNING path', [unit])).length) return false;
      for (const f of files) await this.recordFile(q, f.path, unit, f.sha256, f.size);
      return true;
    });
    // Another node recorded this directory first: its files are the ones every node uses.
    if (!won) await this.materialize(dir);
    this.trimSoon();
  }

  async putFiles(files: string[]): Promise<void> {
    for (const file of files) {
      const name = artifactName(file);
      const blob = await this.putBlob(file);
      await this.recordFile(this.db, name, path.posix.dirname(name), blob.sha256, blob.size);
    }
  }

  async materialize(dir: string): Promise<boolean> {
    const rows = await this.db.query<FileRow>('SELECT path, sha256, size FROM artifact_files WHERE grp = $1 ORDER BY path', [artifactName(dir)]);
    for (const r of rows) await this.ensureLocal(r);
    if (rows.length) this.trimSoon();
    return rows.length > 0;
  }

  async fetch(file: string): Promise<boolean> {
    const rows = await this.db.query<FileRow>('SELECT path, sha256, size FROM artifact_files WHERE path = $1', [artifactName(file)]);
    if (!rows.length) return false;
    await this.ensureLocal(rows[0]);
    this.trimSoon();
    return true;
  }

  async remove(file: string): Promise<void> {
    await this.db.query('DELETE FROM artifact_files WHERE path = $1', [artifactName(file)]);
  }

  /**
   * Deletes the blobs no name points at any more (a removed ceremony key, the files of a
   * directory another node published first), once they are older than `minAgeMs`.
   */
  async sweep(minAgeMs = ORPHAN_AGE_MS): Promise<number> {
    const gone = await this.db.query(
      `DELETE FROM artifact_blobs b WHERE b.created_at < now() - $1::int * interval '1 millisecond'
       AND NOT EXISTS (SELECT 1 FROM artifact_files f WHERE f.sha256 = b.sha256) RETURNING sha256`,
      [minAgeMs],
    );
    return gone.length;
  }

  private async recordFile(q: Pick<Db, 'query'>, name: string, grp: string, sha256: string, size: number): Promise<void> {
    await q.query(
      `INSERT INTO artifact_files (path, grp, sha256, size) VALUES ($1, $2, $3, $4)
       ON CONFLICT (path) DO UPDATE SET grp = excluded.grp, sha256 = excluded.sha256, size = excluded.size, created_at = now()`,
      [name, grp, sha256, size],
    );
  }

  /** Stores a local file's bytes under their sha256 (once: a blob already there is not sent again). */
  private async putBlob(file: string): Promise<{ sha256: string; size: number }> {
    const size = (await stat(file)).size;
    const sha256 = await sha256OfFile(file);
    // Already there: touched, so the sweep of unnamed blobs leaves it while its name is recorded.
    if ((await this.db.query('UPDATE artifact_blobs SET created_at = now() WHERE sha256 = $1 RETURNING sha256', [sha256])).length) return { sha256, size };
    const parts = Math.max(1, Math.ceil(size / PART_BYTES));
    const fh = await open(file, 'r');
    try {
      await this.db.tx(async (q) => {
        // The blob row and all its parts commit together: a blob that is there is whole.
        const mine = await q.query('INSERT INTO artifact_blobs (sha256, size, parts) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING sha256', [
          sha256,
          size,
          parts,
        ]);
        if (!mine.length) return;
        for (let i = 0; i < parts; i++) {
          const buf = Buffer.alloc(Math.min(PART_BYTES, size - i * PART_BYTES));
          const { bytesRead } = await fh.read(buf, 0, buf.length, i * PART_BYTES);
          if (bytesRead !== buf.length) throw new Error(`${file} changed while it was stored`);
          await q.query('INSERT INTO artifact_parts (sha256, part, data) VALUES ($1, $2, $3)', [sha256, i, buf]);
        }
      });
    } finally {
      await fh.close();
    }
    return { sha256, size };
  }

  /** The local copy of a stored file, checked by hash: kept when it matches, fetched when it is missing or differs. */
  private async ensureLocal(r: FileRow): Promise<void> {
    const local = path.join(artifactRoot(), ...r.path.split('/'));
    const s = await stat(local).catch(() => null);
    if (s && s.size === Number(r.size)) {
      const key = `${local}:${s.size}:${s.mtimeMs}`;
      const sha = this.hashed.get(key) ?? (await sha256OfFile(local));
      if (sha === r.sha256) {
        this.hashed.delete(key);
        // Touched: the least recently used files go first when the cache is trimmed.
        const now = new Date();
        await utimes(local, now, now).catch(() => undefined);
        const t = await stat(local).catch(() => null);
        if (t) this.hashed.set(`${local}:${t.size}:${t.mtimeMs}`, sha);
        return;
      }
      this.opts.log?.(`the cached ${r.path} does not match its sha256 ${r.sha256}: fetching it again`);
    }
    await this.download(r, local);
  }

  private async download(r: FileRow, local: string): Promise<void> {
    const blob = (await this.db.query<{ size: string | number; parts: number }>('SELECT size, parts FROM artifact_blobs WHERE sha256 = $1', [r.sha256]))[0];
    if (!blob) throw new ZkinferError('ARTIFACT_CORRUPT', `the stored artifact ${r.path} is missing its bytes (sha256 ${r.sha256})`, r.path);
    await mkdir(path.dirname(local), { recursive: true });
    const tmp = `${local}.${process.pid}.${randomBytes(4).toString('hex')}.part`;
    const h = createHash('sha256');
    const fh = await open(tmp, 'w');
    let size = 0;
    try {
      for (let i = 0; i < blob.parts; i++) {
        const row = (await this.db.query<{ data: Buffer }>('SELECT data FROM artifact_parts WHERE sha256 = $1 AND part = $2', [r.sha256, i]))[0];
        if (!row) throw new ZkinferError('ARTIFACT_CORRUPT', `the stored artifact ${r.path} is missing part ${i} of ${blob.parts}`, r.path);
        h.update(row.data);
        size += row.data.length;
        await fh.write(row.data);
      }
      await fh.close();
      const actual = h.digest('hex');
      if (actual !== r.sha256 || size !== Number(blob.size))
        throw new ZkinferError(
          'ARTIFACT_CORRUPT',
          `the stored artifact ${r.path} hashes to ${actual} (${size} bytes), not its name ${r.sha256}: refused, not used`,
          r.path,
        );
      await rename(tmp, local);
    } catch (e) {
      await fh.close().catch(() => undefined);
      await rm(tmp, { force: true });
      throw e;
    }
    const t = await stat(local);
    this.hashed.set(`${local}:${t.size}:${t.mtimeMs}`, r.sha256);
  }

  /** Trims the cache in the background, one pass at a time. */
  private trimSoon(): void {
    // A walk of the folder: at most every TRIM_EVERY_MS, not on every read.
    if (this.trimming || Date.now() - this.trimmedAt < TRIM_EVERY_MS) return;
    this.trimmedAt = Date.now();
    this.trimming = this.trim()
      .then(() => undefined)
      .catch((e: Error) => this.opts.log?.(`artifact cache trim: ${e.message}`))
      .finally(() => (this.trimming = null));
  }

  /** Deletes the least recently used cached files (oldest mtime first) until the cache is under its size. */
  async trim(): Promise<number> {
    const files: { file: string; size: number; mtimeMs: number }[] = [];
    for (const folder of CACHED_FOLDERS) {
      const root = path.join(artifactRoot(), folder);
      for (const name of await filesUnder(root).catch(() => [] as string[])) {
        const file = path.join(root, ...name.split('/'));
        const base = path.posix.basename(name);
        const s = await stat(file).catch(() => null);
        // A download a killed process left half done: deleted once it is old.
        if (s && base.endsWith('.part') && Date.now() - s.mtimeMs > STALE_PART_MS) await rm(file, { force: true });
        // Only what the store can give back: not a receipt, not a temp file, not a ceremony's working folder.
        if (base === 'receipt.json' || /\.(part|tmp)$/.test(base) || /(^|\/)\./.test(name)) continue;
        if (s) files.push({ file, size: s.size, mtimeMs: s.mtimeMs });
      }
    }
    let total = files.reduce((n, f) => n + f.size, 0);
    let removed = 0;
    if (total <= this.opts.cacheBytes) return 0;
    files.sort((a, b) => a.mtimeMs - b.mtimeMs);
    for (const f of files) {
      if (total <= this.opts.cacheBytes) break;
      if (Date.now() - f.mtimeMs < IN_USE_MS) break;
      await rm(f.file, { force: true });
      total -= f.size;
      removed++;
    }
    return removed;
  }
}
