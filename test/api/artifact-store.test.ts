// The shared artifact store in PostgreSQL, as several nodes see it (each its own artifacts
// folder, switched here through ZKINFER_ARTIFACTS): directories published as one unit, files
// in rows of 4 MiB, every read checked by sha256, a bad cached copy fetched again, bad stored
// bytes refused naming the artifact, the cache trimmed least recently used first. And the
// per-request keys and the receipts in Redis that APIs and workers on other machines share.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactStore, haveDir, LOCAL_STORE, publishDir, useArtifactStore } from '../../src/core/artifact-store.ts';
import { artifactDir } from '../../src/core/artifacts.ts';
import { type Db, openDb } from '../../src/store/db.ts';
import { PART_BYTES, PgArtifactStore } from '../../src/store/pg-artifacts.ts';
import { RedisRequestKeys } from '../../src/store/redis-request-keys.ts';
import { eraseReceipt, readReceipt, saveProofResult, shareReceipts } from '../../src/store/proof-files.ts';
import { freshPostgres } from '../helpers/postgres.ts';
import { findRedis } from '../helpers/redis.ts';

const postgres = await freshPostgres();
const redis = await findRedis();
if (!postgres.url) console.warn(`skipping the shared artifact store tests: ${postgres.why}`);

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('the default artifact store', () => {
  it('is the local folder', () => {
    expect(artifactStore()).toBe(LOCAL_STORE);
    expect(artifactStore().kind).toBe('local');
  });
});

describe.skipIf(!postgres.url)('the artifact store in PostgreSQL, seen from several nodes', () => {
  let db: Db;
  let root: string;
  const saved = process.env.ZKINFER_ARTIFACTS;
  const node = async (name: string) => {
    process.env.ZKINFER_ARTIFACTS = path.join(root, name);
    await mkdir(process.env.ZKINFER_ARTIFACTS, { recursive: true });
  };
  const flipStoredByte = async (name: string, at: number) => {
    const [f] = await db.query<{ sha256: string }>('SELECT sha256 FROM artifact_files WHERE path = $1', [name]);
    const part = Math.floor(at / PART_BYTES);
    const [row] = await db.query<{ data: Buffer }>('SELECT data FROM artifact_parts WHERE sha256 = $1 AND part = $2', [f.sha256, part]);
    row.data[at % PART_BYTES] ^= 0x01;
    await db.query('UPDATE artifact_parts SET data = $3 WHERE sha256 = $1 AND part = $2', [f.sha256, part, row.data]);
  };

  beforeAll(async () => {
    db = await openDb({ url: postgres.url! });
    root = await mkdtemp(path.join(tmpdir(), 'zkinfer-store-'));
    useArtifactStore(new PgArtifactStore(db, { cacheBytes: 1 << 30 }));
  });
  afterAll(async () => {
    useArtifactStore(LOCAL_STORE);
    if (saved === undefined) delete process.env.ZKINFER_ARTIFACTS;
    else process.env.ZKINFER_ARTIFACTS = saved;
    await db?.close();
    await postgres.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('a directory published on one node is materialized on another, file for file', async () => {
    await node('a');
    const dir = artifactDir('circuit', 'c'.repeat(64));
    await publishDir(dir, async (tmp) => {
      await mkdir(path.join(tmp, 'main_js'), { recursive: true });
      await writeFile(path.join(tmp, 'main.r1cs'), 'r1cs bytes');
      await writeFile(path.join(tmp, 'main_js', 'main.wasm'), 'wasm bytes');
    });
    await node('b');
    const there = artifactDir('circuit', 'c'.repeat(64));
    expect(await stat(there).catch(() => null)).toBeNull();
    expect(await artifactStore().materialize(there)).toBe(true);
    expect(await readFile(path.join(there, 'main.r1cs'), 'utf8')).toBe('r1cs bytes');
    expect(await readFile(path.join(there, 'main_js', 'main.wasm'), 'utf8')).toBe('wasm bytes');
    // Nothing stored under another name.
    expect(await artifactStore().materialize(artifactDir('circuit', 'd'.repeat(64)))).toBe(false);
  });

  it('the first node to publish a directory wins: a second node publishing other bytes takes the first one\u2019s', async () => {
    await node('a');
    const dir = path.join(artifactDir('circuit', 'e'.repeat(64)), 'setup-0123456789abcdef');
    await publishDir(dir, async (tmp) => writeFile(path.join(tmp, 'circuit.zkey'), 'key made on a'));
    await node('b');
    const mine = path.join(artifactDir('circuit', 'e'.repeat(64)), 'setup-0123456789abcdef');
    await publishDir(mine, async (tmp) => writeFile(path.join(tmp, 'circuit.zkey'), 'key made on b'));
    expect(await readFile(path.join(mine, 'circuit.zkey'), 'utf8')).toBe('key made on a');
  });

  it('a circuit made on a node before the store held it is stored on first use, without its nested setup folders', async () => {
    await node('before');
    const dir = artifactDir('circuit', 'f'.repeat(64));
    await mkdir(path.join(dir, 'main_js'), { recursive: true });
    await mkdir(path.join(dir, 'setup-0123456789abcdef'), { recursive: true });
    await writeFile(path.join(dir, 'main.r1cs'), 'made before');
    await writeFile(path.join(dir, 'main_js', 'main.wasm'), 'wasm made before');
    await writeFile(path.join(dir, 'setup-0123456789abcdef', 'circuit.zkey'), 'a unit of its own');
    expect(await haveDir(dir, path.join(dir, 'main.r1cs'))).toBe(true);
    const names = (await db.query<{ path: string }>('SELECT path FROM artifact_files WHERE grp = $1 ORDER BY path', [`circuits/${'f'.repeat(64)}`])).map((r) =>
      r.path.split('/').slice(2).join('/'),
    );
    expect(names).toEqual(['main.r1cs', 'main_js/main.wasm']);
    await node('after');
    expect(await haveDir(artifactDir('circuit', 'f'.repeat(64)), path.join(artifactDir('circuit', 'f'.repeat(64)), 'main.r1cs'))).toBe(true);
    expect(await haveDir(artifactDir('circuit', '9'.repeat(64)), path.join(artifactDir('circuit', '9'.repeat(64)), 'main.r1cs'))).toBe(false);
  });

  it('a file of several rows comes back whole; a bad cached copy is fetched again; bad stored bytes are refused, naming the artifact', async () => {
    await node('a');
    const bytes = randomBytes(2 * PART_BYTES + 12345);
    const file = path.join(artifactDir('proof', randomUUID()), 'bundle.json');
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, bytes);
    await artifactStore().putFiles([file]);
    const name = path.relative(process.env.ZKINFER_ARTIFACTS!, file).split(path.sep).join('/');
    const [blob] = await db.query<{ parts: number }>('SELECT b.parts FROM artifact_blobs b JOIN artifact_files f USING (sha256) WHERE f.path = $1', [name]);
    expect(blob.parts).toBe(3);

    await node('b');
    const local = path.join(process.env.ZKINFER_ARTIFACTS!, ...name.split('/'));
    expect(await artifactStore().fetch(local)).toBe(true);
    expect(sha(await readFile(local))).toBe(sha(bytes));

    // The cached copy changes (one byte): the next read fetches the stored bytes again.
    const bad = await readFile(local);
    bad[7] ^= 0xff;
    await writeFile(local, bad);
    expect(await artifactStore().fetch(local)).toBe(true);
    expect(sha(await readFile(local))).toBe(sha(bytes));

    // The stored bytes change (one byte in the second row): a node without a copy refuses them.
    await flipStoredByte(name, PART_BYTES + 99);
    await node('c');
    const fresh = path.join(process.env.ZKINFER_ARTIFACTS!, ...name.split('/'));
    const err = await artifactStore()
      .fetch(fresh)
      .then(
        () => null,
        (e: unknown) => e as { code?: string; message: string },
      );
    expect(err?.code).toBe('ARTIFACT_CORRUPT');
    expect(err?.message).toContain(name);
    expect(err?.message).toContain(sha(bytes));
    expect(await stat(fresh).catch(() => null)).toBeNull(); // never placed where a reader would find it
  });

  it('sweeps stored bytes no name points at, once they are old enough; named ones stay', async () => {
    await node('sweep');
    const store = new PgArtifactStore(db, { cacheBytes: 1 << 30 });
    const kept = path.join(artifactDir('proof', randomUUID()), 'bundle.json');
    const dropped = path.join(artifactDir('proof', randomUUID()), 'bundle.json');
    for (const f of [kept, dropped]) {
      await mkdir(path.dirname(f), { recursive: true });
      await writeFile(f, randomBytes(64));
    }
    await store.putFiles([kept, dropped]);
    await store.remove(dropped);
    const shaOf = async (f: string) => sha(await readFile(f));
    expect(await store.sweep()).toBe(0); // younger than an hour: its name may be on its way
    await db.query("UPDATE artifact_blobs SET created_at = now() - interval '2 hours'");
    expect(await store.sweep()).toBeGreaterThanOrEqual(1);
    const left = new Set((await db.query<{ sha256: string }>('SELECT sha256 FROM artifact_blobs')).map((r) => r.sha256));
    expect(left.has(await shaOf(kept))).toBe(true);
    expect(left.has(await shaOf(dropped))).toBe(false);
    expect(await db.query('SELECT 1 FROM artifact_parts WHERE sha256 = $1', [await shaOf(dropped)])).toHaveLength(0);
  });

  it('trims the cache to its size, least recently used first, keeping what was just used', async () => {
    await node('trim');
    const store = new PgArtifactStore(db, { cacheBytes: 2500 });
    const files: string[] = [];
    for (let i = 0; i < 4; i++) {
      const f = path.join(artifactDir('upload', `${i}`.repeat(64)), 'model.onnx');
      await mkdir(path.dirname(f), { recursive: true });
      await writeFile(f, randomBytes(1000));
      files.push(f);
    }
    await store.putFiles(files);
    // Used an hour ago, two hours ago, ...; the last one now.
    for (let i = 0; i < 3; i++) await utimes(files[i], new Date(Date.now() - (3 - i) * 3600_000), new Date(Date.now() - (3 - i) * 3600_000));
    expect(await store.trim()).toBe(2);
    const left = await Promise.all(
      files.map((f) =>
        stat(f)
          .then(() => true)
          .catch(() => false),
      ),
    );
    expect(left).toEqual([false, false, true, true]);
    // An evicted file is fetched again on its next use.
    expect(await store.fetch(files[0])).toBe(true);
    expect((await stat(files[0])).size).toBe(1000);
  });
});

describe.skipIf(!redis.url)('request keys in Redis, shared by every node', () => {
  let conn: Redis;
  const prefix = `test-${randomUUID()}`;
  beforeAll(() => {
    conn = new Redis(redis.url!);
    conn.on('error', () => {});
  });
  afterAll(async () => {
    const keys = await conn.keys(`${prefix}:*`);
    if (keys.length) await conn.del(...keys);
    conn.disconnect();
    redis.stop();
  });

  it('seals on one node, opens on another, and once erased nothing opens it', async () => {
    const api = new RedisRequestKeys(conn, prefix);
    const worker = new RedisRequestKeys(conn, prefix);
    const id = randomUUID();
    const sealed = await api.seal(id, { input: { income: 52000 } });
    expect(JSON.stringify(sealed)).not.toContain('52000');
    expect(await worker.open(id, sealed)).toEqual({ input: { income: 52000 } });
    await worker.erase(id);
    expect(await api.open(id, sealed)).toBeNull();
  });

  it('keeps receipts in Redis, never on disk: read on another node, erased on request, gone after their TTL', async () => {
    const folder = await mkdtemp(path.join(tmpdir(), 'zkinfer-receipts-'));
    const saved = process.env.ZKINFER_ARTIFACTS;
    process.env.ZKINFER_ARTIFACTS = folder;
    shareReceipts({ redis: conn, prefix, ttlMs: 800 });
    try {
      const [a, b] = [randomUUID(), randomUUID()];
      for (const id of [a, b]) await saveProofResult(id, { proof: id } as never, { salt: '12345', input: { income: 52000 } });
      expect(await stat(path.join(folder, 'proofs', a, 'receipt.json')).catch(() => null)).toBeNull();
      expect(await readReceipt(a)).toEqual({ salt: '12345', input: { income: 52000 } });
      expect(await eraseReceipt(a)).toBe(true);
      expect(await readReceipt(a)).toBeNull();
      expect(await eraseReceipt(a)).toBe(false);
      await new Promise((r) => setTimeout(r, 1200));
      expect(await readReceipt(b)).toBeNull(); // expired by Redis itself
      expect(await conn.keys(`${prefix}:receipt:*`)).toEqual([]);
    } finally {
      shareReceipts(null);
      if (saved === undefined) delete process.env.ZKINFER_ARTIFACTS;
      else process.env.ZKINFER_ARTIFACTS = saved;
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('sweeps the keys of requests no longer open', async () => {
    const keys = new RedisRequestKeys(conn, prefix);
    const open = randomUUID();
    const orphan = randomUUID();
    const a = await keys.seal(open, { input: 1 });
    const b = await keys.seal(orphan, { input: 2 });
    expect(await keys.sweep(async () => new Set([open]), 0)).toBe(1);
    expect(await keys.open(open, a)).toEqual({ input: 1 });
    expect(await keys.open(orphan, b)).toBeNull();
  });
});
