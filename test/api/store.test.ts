// The records layer, run twice: on PostgreSQL and on the embedded store (PGlite), through
// the same SQL. Real databases, no mocks.
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Db, migrate, openDb } from '../../src/store/db.ts';
import { Heartbeats } from '../../src/queue/heartbeats.ts';
import { Leases } from '../../src/queue/leases.ts';
import { Outbox } from '../../src/queue/outbox.ts';
import { RequestKeys } from '../../src/store/request-keys.ts';
import { Stores } from '../../src/store/stores.ts';
import type { NewVersion } from '../../src/store/versions.ts';
import { freshPostgres } from '../helpers/postgres.ts';

const postgres = await freshPostgres();
if (!postgres.url) console.warn(`skipping the PostgreSQL run of the store tests: ${postgres.why}`);
afterAll(() => postgres.stop());

const BACKENDS = [
  { name: 'PostgreSQL', skip: !postgres.url, open: () => openDb({ url: postgres.url }) },
  { name: 'PGlite', skip: false, open: async () => openDb({ dir: path.join(await mkdtemp(path.join(tmpdir(), 'zkinfer-store-')), 'db') }) },
];

const MODEL = 'a'.repeat(64);
const version = (circuitHash: string, vkeyHash: string): NewVersion => ({
  circuitHash,
  circuitSourceSha256: 'c'.repeat(64),
  commitment: '123',
  descriptor: { id: MODEL, anything: ['kept', 'as', 'given'] } as never,
  summary: { inputs: [{ name: 'x', size: 2 }], outputSize: 1, decisionSize: 1, head: 'sigmoid' },
  vkey: { protocol: 'groth16', marker: vkeyHash } as never,
  vkeyHash,
  setup: { vkeySha256: vkeyHash } as never,
  constraints: 10,
  layers: [],
  fidelity: null,
});

for (const b of BACKENDS)
  describe.skipIf(b.skip)(`records on ${b.name}`, () => {
    let db: Db;
    let stores: Stores;
    let leases: Leases;
    let outbox: Outbox;
    let heartbeats: Heartbeats;
    let keysDir: string;
    beforeAll(async () => {
      db = await b.open();
      keysDir = await mkdtemp(path.join(tmpdir(), 'zkinfer-request-keys-'));
      stores = new Stores(db, { requestKeys: new RequestKeys(keysDir) });
      leases = new Leases(db, stores.requestKeys);
      outbox = new Outbox(db);
      heartbeats = new Heartbeats(db);
      await stores.models.register({
        tenant: 't1',
        id: MODEL,
        fileName: 'm.onnx',
        externalFiles: [],
        settings: { scaleBits: 10, bits: 32 },
        publicInput: false,
      });
      await stores.models.register({
        tenant: 't2',
        id: MODEL,
        fileName: 'm.onnx',
        externalFiles: [],
        settings: { scaleBits: 10, bits: 32 },
        publicInput: false,
      });
    });
    afterAll(async () => {
      await db?.close();
      await rm(keysDir, { recursive: true, force: true });
    });

    it('records each migration once', async () => {
      expect(await migrate(db)).toEqual([]);
      const rows = await db.query<{ version: number; name: string }>('SELECT version, name FROM schema_migrations ORDER BY version');
      expect(rows.map((r) => r.name)).toEqual([
        '001_records.sql',
        '002_ceremony.sql',
        '003_model_input_quant.sql',
        '004_compile_fairness.sql',
        '005_ceremony_resets.sql',
        '006_idempotency_keyed.sql',
        '007_private_models.sql',
        '008_model_calibration.sql',
        '009_model_explain.sql',
        '010_artifact_store.sql',
        '011_model_progress.sql',
        '012_proof_warnings.sql',
      ]);
    });

    it('keeps one model record per tenant for the same id', async () => {
      expect((await stores.models.tenants(MODEL)).sort()).toEqual(['t1', 't2']);
      const again = await stores.models.register({
        tenant: 't1',
        id: MODEL,
        fileName: 'm.onnx',
        externalFiles: [],
        settings: { scaleBits: 10, bits: 32 },
        publicInput: false,
      });
      expect(again.enqueue).toBe(false);
    });

    it('makes a new version only when the circuit or the key changes, and never rewrites one', async () => {
      expect(await stores.versions.record('t1', MODEL, version('circuit-1', 'key-1'))).toBe(1);
      expect(await stores.versions.record('t1', MODEL, version('circuit-1', 'key-1'))).toBe(1);
      expect(await stores.versions.record('t1', MODEL, version('circuit-2', 'key-2'))).toBe(2);
      expect(await stores.versions.record('t1', MODEL, version('circuit-2', 'key-3'))).toBe(3);
      const vs = await stores.versions.list('t1', MODEL);
      expect(vs.map((v) => [v.version, v.circuitHash, v.vkeyHash])).toEqual([
        [1, 'circuit-1', 'key-1'],
        [2, 'circuit-2', 'key-2'],
        [3, 'circuit-2', 'key-3'],
      ]);
      expect(vs[0].descriptor).toEqual({ id: MODEL, anything: ['kept', 'as', 'given'] });
      expect((await stores.models.get('t1', MODEL))!.status).toBe('ready');
      expect((await stores.versions.byKey(MODEL, 'key-1'))[0].version).toBe(1);
      expect(await stores.versions.find(MODEL, { commitment: '123' })).toHaveLength(3);
      expect((await stores.versions.latest('t1', MODEL))!.version).toBe(3);
      expect(await stores.versions.latest('t2', MODEL)).toBeNull();
    });

    it('accepts a proof, its private request and its key together; concurrent requests with one key make one proof', async () => {
      const key = randomUUID();
      const results = await Promise.all(
        Array.from({ length: 20 }, () =>
          stores.proofs.accept({ id: randomUUID(), tenant: 't1', modelId: MODEL, request: { input: [1, 2] }, idempotency: { key, payloadHash: 'h' } }),
        ),
      );
      const ids = new Set(results.map((r) => r.proofId));
      expect(ids.size).toBe(1);
      const [id] = ids;
      const [{ n }] = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM proofs WHERE tenant = 't1'");
      expect(n).toBe(1);
      expect(await stores.proofs.hasRequest(id)).toBe(true);
      // The same key under another tenant is another request.
      const other = await stores.proofs.accept({
        id: randomUUID(),
        tenant: 't2',
        modelId: MODEL,
        request: { input: [1] },
        idempotency: { key, payloadHash: 'h' },
      });
      expect(other.kind).toBe('accepted');
      // A record that cannot be written leaves nothing behind: no request, no key.
      const bad = randomUUID();
      await expect(
        stores.proofs.accept({ id: bad, tenant: 't1', modelId: 'b'.repeat(64), request: { input: [] }, idempotency: { key: 'k-bad', payloadHash: 'h' } }),
      ).rejects.toThrow();
      expect(await stores.proofs.hasRequest(bad)).toBe(false);
      expect(await db.query("SELECT 1 FROM idempotency_keys WHERE key = 'k-bad'")).toHaveLength(0);
      // Of the 20 concurrent acceptances, only the winner's request key is left.
      expect((await readdir(keysDir)).filter((f) => ![...ids, other.proofId].some((i) => f === `${i}.key`))).toEqual([]);
      // Done deletes the private request in the same transaction.
      const note = 'prover-side, not proven: x lies within 1e-3 of the split at 0.5';
      await stores.proofs.finish(id, { modelVersion: 3, timings: { witnessMs: 1, proveMs: 2, verifyMs: 3, totalMs: 6 }, worker: 'w', warnings: [note] });
      expect(await stores.proofs.hasRequest(id)).toBe(false);
      expect((await stores.proofs.get(id))!.modelVersion).toBe(3);
      // The prover-side warnings are kept with the record; a proof without any has none.
      expect((await stores.proofs.get(id))!.warnings).toEqual([note]);
      await stores.proofs.finish(other.proofId, { modelVersion: 3, timings: { witnessMs: 1, proveMs: 2, verifyMs: 3, totalMs: 6 }, worker: 'w' });
      expect((await stores.proofs.get(other.proofId))!.warnings).toBeUndefined();
    });

    it('seals the private request under a key of its own, and erases the key when the proof ends', async () => {
      const secret = { input: { income: 73519.4271 }, salt: '918273645546372819' };
      await stores.models.register({
        tenant: 't3',
        id: MODEL,
        fileName: 'm.onnx',
        externalFiles: [],
        settings: { scaleBits: 10, bits: 32 },
        publicInput: false,
      });
      await stores.models.setStatus('t3', MODEL, 'ready');
      const id = randomUUID();
      await stores.proofs.accept({ id, tenant: 't3', modelId: MODEL, request: secret });
      // The database holds ciphertext only; the key is a 0600 file.
      const [row] = await db.query<{ body: unknown }>('SELECT body FROM proof_requests WHERE proof_id = $1', [id]);
      expect(JSON.stringify(row.body)).not.toContain('73519');
      expect(JSON.stringify(row.body)).not.toContain('918273645546372819');
      expect((await stat(path.join(keysDir, `${id}.key`))).mode & 0o777).toBe(0o600);
      expect((await stores.proofs.job(id))!.request).toEqual(secret);
      // Failed (or done): the row and the key go; a copy of the row left anywhere cannot be opened.
      await stores.proofs.fail(id, 'test');
      expect(await readdir(keysDir)).not.toContain(`${id}.key`);
      expect(await new RequestKeys(keysDir).open(id, row.body as never)).toBeNull();
      // A sealed body whose key is gone reads as a missing request (the worker fails the proof).
      const lost = randomUUID();
      await stores.proofs.accept({ id: lost, tenant: 't3', modelId: MODEL, request: secret });
      await rm(path.join(keysDir, `${lost}.key`));
      expect((await stores.proofs.job(lost))!.request).toBeNull();
      await stores.proofs.fail(lost, 'test');
      // The sweep removes keys whose request is gone, and keeps open ones.
      const open = randomUUID();
      await stores.proofs.accept({ id: open, tenant: 't3', modelId: MODEL, request: secret });
      const orphan = randomUUID();
      await new RequestKeys(keysDir).seal(orphan, secret);
      expect(
        await stores.requestKeys.sweep(
          async (ids) =>
            new Set(
              (await db.query<{ proof_id: string }>('SELECT proof_id::text FROM proof_requests WHERE proof_id = ANY($1::uuid[])', [ids])).map(
                (r) => r.proof_id,
              ),
            ),
          0,
        ),
      ).toBeGreaterThanOrEqual(1);
      const left = await readdir(keysDir);
      expect(left).toContain(`${open}.key`);
      expect(left).not.toContain(`${orphan}.key`);
      await stores.proofs.fail(open, 'test');
    });

    it('hands each queued job to one claimer, and fails a job after its last attempt', async () => {
      const ids = await Promise.all(
        Array.from({ length: 4 }, async () => (await stores.proofs.accept({ id: randomUUID(), tenant: 't2', modelId: MODEL, request: { input: [] } })).proofId),
      );
      const claims = await Promise.all(Array.from({ length: 8 }, (_, i) => leases.claimNext(`owner-${i}`, 60_000)));
      const taken = claims.filter((c) => c !== null).map((c) => c!.id);
      expect(new Set(taken).size).toBe(taken.length);
      expect(taken.filter((t) => ids.includes(t)).length).toBeGreaterThanOrEqual(4);
      const job = { kind: 'prove' as const, id: ids[0] };
      expect(await leases.release(job, null, 'worker died', 3, 0)).toBe('requeued');
      expect((await leases.claimNext('again', 60_000))?.id).toBe(ids[0]);
      expect(await leases.release(job, 'someone else', 'worker died', 3, 0)).toBe('finished'); // not that owner's lease
      expect(await leases.release(job, 'again', 'worker died', 3, 0)).toBe('requeued');
      expect((await leases.claimNext('again', 60_000))?.id).toBe(ids[0]);
      // Taken 3 times now: the next release fails it for good, with the reason, and drops the request.
      expect(await leases.release(job, 'again', 'worker died', 3, 0)).toBe('failed');
      const rec = (await stores.proofs.get(ids[0]))!;
      expect(rec.status).toBe('failed');
      expect(rec.reason).toContain('worker died');
      expect(await stores.proofs.hasRequest(ids[0])).toBe(false);
    });

    it('pages proofs newest first through a cursor, per tenant and model', async () => {
      await db.query(
        `INSERT INTO proofs (id, tenant, model_id, status, stage, created_at)
       SELECT gen_random_uuid(), 't1', $1, 'done', 'stored', timestamp '2026-01-01' + (i || ' seconds')::interval FROM generate_series(1, 120) i`,
        [MODEL],
      );
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await stores.proofs.list({ tenant: 't1', modelId: MODEL, limit: 50, cursor });
        seen.push(...page.items.map((p) => p.createdAt + p.id));
        cursor = page.nextCursor ?? undefined;
        pages++;
      } while (cursor);
      expect(pages).toBe(3);
      expect(seen).toHaveLength(121);
      expect(new Set(seen).size).toBe(121);
      expect([...seen].sort().reverse()).toEqual(seen);
    });

    it('takes compiles round-robin across tenants, at most N per tenant at once', async () => {
      // Only this test's models are queued.
      await db.query("UPDATE models SET status = 'failed' WHERE status = 'queued'");
      const id = (c: string) => c.repeat(64);
      const reg = (tenant: string, c: string) =>
        stores.models.register({ tenant, id: id(c), fileName: 'm.onnx', externalFiles: [], settings: { scaleBits: 10, bits: 32 }, publicInput: false });
      // Tenant A uploads three models, then tenant B one.
      for (const c of ['1', '2', '3']) await reg('fair-a', c);
      await reg('fair-b', '4');
      const order: string[] = [];
      for (let i = 0; i < 4; i++) {
        const job = await leases.claimCompile(`w${i}`, 60_000, 1);
        expect(job?.kind).toBe('compile');
        const j = job as { tenant: string; id: string };
        order.push(`${j.tenant}:${j.id[0]}`);
        await stores.models.setStatus(j.tenant, j.id, 'ready');
      }
      // B's one upload is not held back behind A's queue.
      expect(order).toEqual(['fair-a:1', 'fair-b:4', 'fair-a:2', 'fair-a:3']);

      // With one of A's compiles running, A's next waits while B's is taken.
      for (const c of ['5', '6']) await reg('fair-a', c);
      await reg('fair-b', '7');
      const a = (await leases.claimCompile('x', 60_000, 1)) as { tenant: string; id: string };
      const b = (await leases.claimCompile('y', 60_000, 1)) as { tenant: string; id: string };
      expect([a.tenant, b.tenant].sort()).toEqual(['fair-a', 'fair-b']);
      expect(await leases.claimCompile('z', 60_000, 1)).toBeNull();
      expect(((await leases.claimCompile('z', 60_000, 2)) as { tenant: string } | null)?.tenant).toBe('fair-a');

      // BullMQ workers ask before compiling: refused while the tenant is at its limit.
      await reg('fair-c', '8');
      await reg('fair-c', '9');
      expect(await leases.startCompile('fair-c', id('8'), 1)).toBe(true);
      expect(await leases.startCompile('fair-c', id('8'), 1)).toBe(true); // its own retry
      expect(await leases.startCompile('fair-c', id('9'), 1)).toBe(false);
      expect((await stores.models.get('fair-c', id('9')))!.status).toBe('queued');
      await stores.models.setStatus('fair-c', id('8'), 'ready');
      expect(await leases.startCompile('fair-c', id('9'), 1)).toBe(true);
      expect(await outbox.openCompiles('fair-c')).toBe(1);
    });

    it('reports the freshest worker heartbeat', async () => {
      expect(await heartbeats.ageMs()).toBeNull();
      await heartbeats.beat('w1', 'test');
      expect(await heartbeats.ageMs()).toBeLessThan(5000);
    });
  });

afterAll(async () => {
  await rm(path.join(tmpdir(), 'zkinfer-store-none'), { recursive: true, force: true });
});
