// A phase-2 ceremony over REST (#13) on the loan model, on the embedded store with its own
// worker process and a real HTTP server: contributors through the CLI (real zkeys), the
// contributions the service must refuse, two uploads racing on one base, finalize, a proof
// under the final key, and `zkinfer audit` on the files the service hands out.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.ts';
import { contribute, initCeremony, phase2Trust } from '../../src/ceremony/index.ts';
import { type Config, loadConfig } from '../../src/service/config.ts';
import { compileModel, pickPtau } from '../../src/pipeline/index.ts';
import { redisConnection } from '../../src/queue/index.ts';
import { Ceremonies } from '../../src/store/ceremonies.ts';
import { openDb } from '../../src/store/db.ts';
import { Stores } from '../../src/store/stores.ts';
import { freshPostgres } from '../helpers/postgres.ts';
import { cli } from '../helpers/cli.ts';
import { LOAN_APPLICANT, LOAN_MODEL, REPO } from '../helpers/paths.ts';
import { findRedis } from '../helpers/redis.ts';

const KEYS = {
  bank: 'bank-prover-key-0123456789',
  regulator: 'regulator-verifier-key-0123',
  alice: 'alice-contributor-key-01234',
  carol: 'carol-contributor-key-56789',
  outsider: 'other-contributor-key-abcde',
};
const BEACON = 'ab'.repeat(32);
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const postgres = await freshPostgres();
if (!postgres.url) console.warn(`skipping the PostgreSQL run of the ceremony compare-and-set: ${postgres.why}`);
afterAll(() => postgres.stop());

// The compare-and-set itself, on both databases: concurrent transactions (PostgreSQL's pool
// runs them on separate connections), many at once on one base, exactly one wins.
for (const b of [
  { name: 'PostgreSQL', skip: !postgres.url, open: () => openDb({ url: postgres.url, poolSize: 12 }) },
  { name: 'PGlite', skip: false, open: async () => openDb({ dir: path.join(await mkdtemp(path.join(tmpdir(), 'zkinfer-cas-')), 'db') }) },
]) {
  describe.skipIf(b.skip)(`the ceremony's compare-and-set on ${b.name}`, () => {
    it('of ten contributions on one base, one is recorded; the rest see the new current key', async () => {
      const db = await b.open();
      try {
        const model = 'c'.repeat(64);
        await new Stores(db).models.register({
          tenant: 't',
          id: model,
          fileName: 'm.onnx',
          externalFiles: [],
          settings: { scaleBits: 10, bits: 32 },
          publicInput: false,
          setup: 'ceremony',
        });
        const c = new Ceremonies(db);
        const base0 = '0'.repeat(64);
        await new Stores(db).ceremonies.start('t', model, {
          circuitHash: 'h',
          r1csSha256: 'r',
          csHash: 'cs',
          ptau: { kind: 'development', name: 'p', power: 13, sha256: 'p'.repeat(64) },
          baseSha256: base0,
          pending: {} as never,
        });
        expect((await new Stores(db).models.get('t', model))?.status).toBe('ceremony');
        const outcomes = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            c.accept('t', model, base0, { name: `c${i}`, hash: `h${i}`, zkeySha256: String(i).padStart(64, '1'), uploadedBy: 'contributor:t', checkMs: 1 }),
          ),
        );
        const won = outcomes.filter((o) => o.kind === 'accepted');
        expect(won).toEqual([{ kind: 'accepted', index: 1 }]);
        const row = await c.get('t', model);
        expect(row?.contributions).toHaveLength(1);
        expect(outcomes.filter((o) => o.kind === 'moved')).toEqual(Array(9).fill({ kind: 'moved', current: row!.currentSha256 }));
        // The next one builds on the winner.
        expect(
          await c.accept('t', model, row!.currentSha256, { name: 'next', hash: 'hn', zkeySha256: 'e'.repeat(64), uploadedBy: 'prover:t', checkMs: 1 }),
        ).toEqual({ kind: 'accepted', index: 2 });
        // A reset (compare-and-set on the current key too) puts it back on the initial key,
        // recording what it dropped; the chain starts again at #1 on the initial key.
        expect(await c.reset('t', model, row!.currentSha256, 'prover:t', 'stuck')).toEqual({ kind: 'moved', current: 'e'.repeat(64) });
        const reset = await c.reset('t', model, 'e'.repeat(64), 'prover:t', 'stuck');
        expect(reset).toMatchObject({ kind: 'reset', n: 1 });
        const after = await c.get('t', model);
        expect(after).toMatchObject({
          currentSha256: base0,
          contributions: [],
          resets: [{ n: 1, fromSha256: 'e'.repeat(64), resetBy: 'prover:t', reason: 'stuck' }],
        });
        expect(after!.resets[0].contributions.map((x) => x.name)).toEqual([row!.contributions[0].name, 'next']);
        expect(await c.reset('t', model, base0, 'prover:t', 'again')).toEqual({ kind: 'empty' });
        expect(await c.accept('t', model, base0, { name: 'fresh', hash: 'hf', zkeySha256: 'f'.repeat(64), uploadedBy: 'contributor:t', checkMs: 1 })).toEqual({
          kind: 'accepted',
          index: 1,
        });
      } finally {
        await db.close();
      }
    });
  });
}

const redis = await findRedis();
afterAll(() => redis.stop());
/** The same ceremony on each backend: the embedded store with its worker process, and PostgreSQL with a BullMQ worker. */
const BACKENDS = [
  { name: 'the embedded store (PGlite) with its own worker process', bull: false, skip: null as string | null },
  { name: 'PostgreSQL with a BullMQ worker on Redis', bull: true, skip: !redis.url ? redis.why : !postgres.url ? postgres.why : null },
];
for (const b of BACKENDS) if (b.skip) console.warn(`skipping the REST ceremony on ${b.name}: ${b.skip}`);

for (const backend of BACKENDS)
  describe.skipIf(backend.skip !== null)(`a ceremony over REST on ${backend.name}`, () => {
    let app: FastifyInstance;
    let worker: ChildProcess | null = null;
    let queuePrefix: string;
    let conn: Redis | null = null;
    let base: string;
    let id: string;
    let dir: string;
    let initial: { file: string; sha: string };
    const hashes: Record<string, string> = {};
    const timings: Record<string, number | number[]> = {};

    const call = async (method: string, url: string, key: string | null, body?: unknown, headers: Record<string, string> = {}) => {
      const raw = body instanceof Uint8Array;
      const res = await fetch(base + url, {
        method,
        headers: {
          ...(key ? { authorization: `Bearer ${key}` } : {}),
          ...(body !== undefined ? { 'content-type': raw ? 'application/octet-stream' : 'application/json' } : {}),
          ...headers,
        },
        body: body === undefined ? undefined : raw ? new Blob([body as Uint8Array<ArrayBuffer>]) : JSON.stringify(body),
      });
      const buf = Buffer.from(await res.arrayBuffer());
      let json: any = null;
      try {
        json = JSON.parse(buf.toString('utf8'));
      } catch {
        json = null;
      }
      return { status: res.status, body: json, bytes: buf, headers: res.headers };
    };
    const poll = async <T>(fn: () => Promise<T>, done: (v: T) => boolean, ms = 240_000): Promise<T> => {
      const end = Date.now() + ms;
      for (;;) {
        const v = await fn();
        if (done(v) || Date.now() > end) return v;
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    /** The ceremony's current key, saved to a file. */
    const download = async (name: string) => {
      const r = await call('GET', `/v1/models/${id}/ceremony/zkey`, KEYS.alice);
      expect(r.status).toBe(200);
      expect(r.headers.get('x-zkinfer-sha256')).toBe(sha256(r.bytes));
      const file = path.join(dir, name);
      await writeFile(file, r.bytes);
      return { file, sha: sha256(r.bytes) };
    };
    const upload = (file: Buffer, baseSha: string, key = KEYS.alice) =>
      call('POST', `/v1/models/${id}/ceremony/contributions`, key, new Uint8Array(file), { 'x-zkinfer-base-sha256': baseSha });
    const cliContribute = (name: string, env: Record<string, string>, extra: string[] = []) =>
      cli(['ceremony', 'contribute', '--url', base, '--model', id, '--name', name, ...extra], { ...process.env, ...env });

    beforeAll(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-rest-ceremony-'));
      const config: Config = {
        ...loadConfig({}),
        host: '127.0.0.1',
        port: 0,
        redisUrl: backend.bull ? redis.url : null,
        databaseUrl: backend.bull ? postgres.url : null,
        dbDir: path.join(dir, 'db'),
        queuePrefix: (queuePrefix = `test-ceremony-${randomUUID()}`),
        reconcileIntervalMs: 500,
        rateLimit: 10_000,
        apiKeys: [
          { key: KEYS.bank, role: 'prover', tenant: 'bank' },
          { key: KEYS.regulator, role: 'verifier', tenant: 'bank' },
          { key: KEYS.alice, role: 'contributor', tenant: 'bank' },
          { key: KEYS.carol, role: 'contributor', tenant: 'bank' },
          { key: KEYS.outsider, role: 'contributor', tenant: 'other' },
        ],
      };
      expect(loadConfig({ ZKINFER_API_KEYS: `${KEYS.alice}=contributor:bank` }).apiKeys).toEqual([{ key: KEYS.alice, role: 'contributor', tenant: 'bank' }]);
      app = await buildApp({ config });
      await app.listen({ host: '127.0.0.1', port: 0 });
      base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
      if (backend.bull) {
        conn = redisConnection(redis.url!);
        conn.on('error', () => {});
        worker = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'src', 'queue', 'worker-main.ts')], {
          cwd: REPO,
          env: { ...process.env, REDIS_URL: redis.url!, DATABASE_URL: postgres.url!, ZKINFER_QUEUE_PREFIX: queuePrefix },
          stdio: ['ignore', 'inherit', 'inherit'],
        });
      }
      const form = new FormData();
      form.append('model', new Blob([await readFile(LOAN_MODEL)]), 'loan-model.onnx');
      form.append('setup', 'ceremony');
      const up = await fetch(`${base}/v1/models`, { method: 'POST', headers: { authorization: `Bearer ${KEYS.bank}` }, body: form });
      expect(up.status).toBe(202);
      id = ((await up.json()) as { id: string }).id;
      const t0 = performance.now();
      const waiting = await poll(
        () => call('GET', `/v1/models/${id}`, KEYS.bank),
        (r) => ['ceremony', 'ready', 'failed'].includes(r.body.status),
      );
      timings.compileAndInitMs = Math.round(performance.now() - t0);
      expect(waiting.body.status, JSON.stringify(waiting.body)).toBe('ceremony');
      initial = await download('initial.zkey');
    }, 300_000);

    afterAll(async () => {
      worker?.kill('SIGTERM');
      await app?.close();
      if (conn) {
        const keys = await conn.keys(`${queuePrefix}:*`);
        if (keys.length) await conn.del(...keys);
        conn.disconnect();
      }
      console.log(`REST ceremony timings on ${backend.name}: ${JSON.stringify(timings)}`);
    });

    it('waits in status ceremony with the initial key: no proofs, the chain is empty', async () => {
      const model = await call('GET', `/v1/models/${id}`, KEYS.bank);
      expect(model.body).toMatchObject({ status: 'ceremony', setupMode: 'ceremony', versions: [], ceremony: { state: 'open', contributions: [] } });
      expect(model.body.vkeyHash).toBeUndefined();
      const c = await call('GET', `/v1/models/${id}/ceremony`, KEYS.regulator);
      expect(c.status).toBe(200);
      expect(c.body).toMatchObject({
        modelId: id,
        state: 'open',
        baseSha256: initial.sha,
        currentSha256: initial.sha,
        contributions: [],
        beacon: null,
        version: null,
      });
      expect(c.body.ptau).toMatchObject({ name: 'zkinfer-dev-13' });
      const applicant = JSON.parse(await readFile(LOAN_APPLICANT, 'utf8'));
      const prove = await call('POST', `/v1/models/${id}/proofs`, KEYS.bank, { input: applicant });
      expect(prove.status).toBe(409);
      expect(prove.body.code).toBe('MODEL_NOT_READY');
      expect(prove.body.message).toMatch(/ceremony/);
      // Another tenant's contributor does not see this tenant's ceremony.
      expect((await call('GET', `/v1/models/${id}/ceremony`, KEYS.outsider)).status).toBe(404);
      // The same model again with the service's own setup is a conflict; an unknown setup a 400.
      for (const [setup, status, code] of [
        ['service', 409, 'SETUP_CONFLICT'],
        ['mine', 400, 'VALIDATION'],
      ] as const) {
        const form = new FormData();
        form.append('model', new Blob([await readFile(LOAN_MODEL)]), 'loan-model.onnx');
        form.append('setup', setup);
        const r = await fetch(`${base}/v1/models`, { method: 'POST', headers: { authorization: `Bearer ${KEYS.bank}` }, body: form });
        expect(r.status).toBe(status);
        expect(((await r.json()) as { code: string }).code).toBe(code);
      }
      // Finalizing a key nobody contributed to is refused (a beacon alone is public).
      const early = await call('POST', `/v1/models/${id}/ceremony/finalize`, KEYS.bank, { beacon: BEACON, iterationsExp: 10 });
      expect(early.status).toBe(400);
      expect(early.body.message).toMatch(/no contribution/);
    });

    it('a contributor key reads the ceremony and nothing else: no model upload, no proof, no proof list', async () => {
      const form = new FormData();
      form.append('model', new Blob([await readFile(LOAN_MODEL)]), 'loan-model.onnx');
      const up = await fetch(`${base}/v1/models`, { method: 'POST', headers: { authorization: `Bearer ${KEYS.alice}` }, body: form });
      expect(up.status).toBe(403);
      const applicant = JSON.parse(await readFile(LOAN_APPLICANT, 'utf8'));
      const prove = await call('POST', `/v1/models/${id}/proofs`, KEYS.alice, { input: applicant });
      expect(prove.status).toBe(403);
      expect(prove.body.code).toBe('FORBIDDEN');
      expect((await call('GET', '/v1/proofs', KEYS.alice)).status).toBe(403);
      expect((await call('POST', `/v1/models/${id}/ceremony/finalize`, KEYS.alice, { beacon: BEACON, iterationsExp: 10 })).status).toBe(403);
      // A verifier reads the ceremony but does not contribute.
      expect((await upload(await readFile(initial.file), initial.sha, KEYS.regulator)).status).toBe(403);
    });

    it('two contributors through `zkinfer ceremony contribute --url` (real keys, fresh entropy): the chain lists both', async () => {
      const a = await cliContribute('alice (regulator)', { ZKINFER_API_KEY: KEYS.alice });
      expect(a.code, a.stderr).toBe(0);
      const ra = JSON.parse(a.stdout);
      expect(ra).toMatchObject({ modelId: id, name: 'alice (regulator)', index: 1, baseSha256: initial.sha, attempts: 1 });
      expect(ra.contributionHash).toMatch(/^[0-9a-f]{128}$/);
      hashes.alice = ra.contributionHash;
      // The owning prover may contribute too (its key given on the command line).
      const b = await cliContribute('bob (bank)', {}, ['--api-key', KEYS.bank]);
      expect(b.code, b.stderr).toBe(0);
      const rb = JSON.parse(b.stdout);
      expect(rb).toMatchObject({ index: 2, baseSha256: ra.zkeySha256 });
      hashes.bob = rb.contributionHash;
      timings.checkMs = [ra.checkMs, rb.checkMs];
      timings.contributeMs = [ra.contributeMs, rb.contributeMs];
      const c = await call('GET', `/v1/models/${id}/ceremony`, KEYS.alice);
      expect(c.body.contributions.map((x: any) => [x.index, x.name, x.hash, x.uploadedBy])).toEqual([
        [1, 'alice (regulator)', hashes.alice, 'contributor:bank'],
        [2, 'bob (bank)', hashes.bob, 'prover:bank'],
      ]);
      expect(c.body.currentSha256).toBe(rb.zkeySha256);
      expect(c.body.contributions[1].baseSha256).toBe(ra.zkeySha256);
      const model = await call('GET', `/v1/models/${id}`, KEYS.regulator);
      expect(model.body.ceremony.contributions.map((x: any) => x.hash)).toEqual([hashes.alice, hashes.bob]);
    }, 180_000);

    it('refuses, naming why: two contributions at once, an old base, another circuit; a wrong body', async () => {
      const cur = await download('current.zkey');
      // Two at once: a key that skips a step of the chain.
      await contribute(cur.file, path.join(dir, 'two-1.zkey'), 'mallory 1');
      await contribute(path.join(dir, 'two-1.zkey'), path.join(dir, 'two-2.zkey'), 'mallory 2');
      const two = await upload(await readFile(path.join(dir, 'two-2.zkey')), cur.sha);
      expect(two.status).toBe(400);
      expect(two.body).toMatchObject({ code: 'CEREMONY' });
      expect(two.body.message).toMatch(/adds 2 contributions at once/);
      // An old base, named as such: 409 naming the base (download the current key and retry).
      await contribute(initial.file, path.join(dir, 'eve.zkey'), 'eve');
      const eve = await readFile(path.join(dir, 'eve.zkey'));
      const old = await upload(eve, initial.sha);
      expect(old.status).toBe(409);
      expect(old.body.code).toBe('CEREMONY_BASE_MOVED');
      expect(old.body.message).toContain(`not the base ${initial.sha}`);
      expect(old.body.message).toContain(cur.sha);
      // The same key claiming the current base: it does not build on it.
      const lie = await upload(eve, cur.sha);
      expect(lie.status).toBe(400);
      expect(lie.body.message).toMatch(/does not build on the base key: contribution #1 is "eve"/);
      // Another circuit (the loan model at scale 9) on the same ptau.
      const m9 = await compileModel(LOAN_MODEL, { settings: { scaleBits: 9 }, fidelity: false });
      const other = await initCeremony(m9, await pickPtau(m9), path.join(dir, 'other'));
      await contribute(other.zkey, path.join(dir, 'other-1.zkey'), 'mallory');
      const foreign = await upload(await readFile(path.join(dir, 'other-1.zkey')), cur.sha);
      expect(foreign.status).toBe(400);
      expect(foreign.body.message).toMatch(/another circuit or ptau/);
      // The same key again (adds nothing), a body that is not a key, the wrong type, too large, no base.
      expect((await upload(await readFile(cur.file), cur.sha)).body.message).toMatch(/adds no contribution/);
      const junk = await upload(Buffer.from('not a zkey'), cur.sha);
      expect(junk.status).toBe(400);
      expect(junk.body.message).toMatch(/not a zkey/);
      const json = await call('POST', `/v1/models/${id}/ceremony/contributions`, KEYS.alice, { zkey: 'x' }, { 'x-zkinfer-base-sha256': cur.sha });
      expect(json.status).toBe(415);
      const big = await upload(Buffer.alloc(3 * (await readFile(cur.file)).length), cur.sha);
      expect(big.status).toBe(413);
      const nobase = await call('POST', `/v1/models/${id}/ceremony/contributions`, KEYS.alice, new Uint8Array(eve));
      expect(nobase.status).toBe(400);
      expect(nobase.body.field).toBe('x-zkinfer-base-sha256');
      // None of it moved the ceremony.
      const c = await call('GET', `/v1/models/${id}/ceremony`, KEYS.alice);
      expect(c.body.currentSha256).toBe(cur.sha);
      expect(c.body.contributions).toHaveLength(2);
    }, 240_000);

    it('two uploads on one base: one is accepted, the other is a 409 naming the base', async () => {
      const cur = await download('race.zkey');
      await contribute(cur.file, path.join(dir, 'race-carol.zkey'), 'carol');
      await contribute(cur.file, path.join(dir, 'race-dave.zkey'), 'dave');
      const [r1, r2] = await Promise.all([
        upload(await readFile(path.join(dir, 'race-carol.zkey')), cur.sha, KEYS.carol),
        upload(await readFile(path.join(dir, 'race-dave.zkey')), cur.sha, KEYS.alice),
      ]);
      expect([r1.status, r2.status].sort()).toEqual([200, 409]);
      const lost = r1.status === 409 ? r1 : r2;
      const won = r1.status === 200 ? r1 : r2;
      expect(lost.body.code).toBe('CEREMONY_BASE_MOVED');
      expect(lost.body.message).toContain(`not the base ${cur.sha}`);
      expect(won.body).toMatchObject({ index: 3, baseSha256: cur.sha });
      hashes.race = won.body.hash;
      const c = await call('GET', `/v1/models/${id}/ceremony`, KEYS.alice);
      expect(c.body.contributions).toHaveLength(3);
      expect(c.body.currentSha256).toBe(won.body.zkeySha256);
      // Two CLI contributors at once: the one that loses the race downloads the newer key and retries.
      const [x, y] = await Promise.all([cliContribute('erin', { ZKINFER_API_KEY: KEYS.carol }), cliContribute('frank', { ZKINFER_API_KEY: KEYS.alice })]);
      expect(x.code, x.stderr).toBe(0);
      expect(y.code, y.stderr).toBe(0);
      const [rx, ry] = [JSON.parse(x.stdout), JSON.parse(y.stdout)];
      expect([rx.index, ry.index].sort()).toEqual([4, 5]);
      expect([rx.attempts, ry.attempts].sort()).toEqual([1, 2]);
      const retried = rx.attempts === 2 ? x : y;
      expect(retried.stderr).toMatch(/another contribution came first/);
      hashes[rx.index === 4 ? 'four' : 'five'] = rx.contributionHash;
      hashes[ry.index === 4 ? 'four' : 'five'] = ry.contributionHash;
    }, 240_000);

    it('finalize (the owner only) applies the beacon and makes the key version; then no contribution follows', async () => {
      const chain = [hashes.alice, hashes.bob, hashes.race, hashes.four, hashes.five];
      expect((await call('POST', `/v1/models/${id}/ceremony/finalize`, KEYS.regulator, { beacon: BEACON, iterationsExp: 10 })).status).toBe(403);
      const bad = await call('POST', `/v1/models/${id}/ceremony/finalize`, KEYS.bank, { beacon: 'xyz', iterationsExp: 10 });
      expect(bad.status).toBe(400);
      expect((await call('POST', `/v1/models/${id}/ceremony/finalize`, KEYS.bank, { beacon: BEACON, iterationsExp: 10, base: initial.sha })).status).toBe(409);
      const before = await download('before-final.zkey');
      const f = await call('POST', `/v1/models/${id}/ceremony/finalize`, KEYS.bank, { beacon: BEACON, iterationsExp: 10 });
      expect(f.status, JSON.stringify(f.body)).toBe(200);
      timings.finalizeMs = f.body.ms;
      expect(f.body.version).toBe(1);
      expect(f.body.contributions.map((c: any) => c.hash)).toEqual([...chain, f.body.beaconHash]);
      expect(f.body.contributions[5].name).toBe(`final beacon (beacon ${BEACON}, 2^10 iterations)`);
      const model = await call('GET', `/v1/models/${id}`, KEYS.regulator);
      expect(model.body).toMatchObject({ status: 'ready', version: 1, vkeyHash: f.body.vkeyHash, ceremony: { state: 'finalized', version: 1 } });
      expect(model.body.setup.zkeySha256).toBe(f.body.zkeySha256);
      expect(model.body.setup.ceremony.contributions.map((c: any) => c.hash)).toEqual(chain);
      expect(model.body.setup.ceremony.beacon).toEqual({ hash: BEACON, iterationsExp: 10, contributionHash: f.body.beaconHash });
      expect(model.body.setup.trust).toMatchObject({ kind: 'ceremony', contributions: 5 });
      // The final key is served, and nothing can follow it.
      const fin = await call('GET', `/v1/models/${id}/ceremony/zkey`, KEYS.alice);
      expect(sha256(fin.bytes)).toBe(f.body.zkeySha256);
      await contribute(before.file, path.join(dir, 'late.zkey'), 'late');
      const late = await upload(await readFile(path.join(dir, 'late.zkey')), before.sha);
      expect(late.status).toBe(409);
      expect(late.body.code).toBe('CEREMONY_FINALIZED');
      expect((await call('POST', `/v1/models/${id}/ceremony/finalize`, KEYS.bank, { beacon: BEACON, iterationsExp: 10 })).status).toBe(409);
    }, 120_000);

    it('a proof through the service verifies under the ceremony key; the verdict lists the contributions', async () => {
      const applicant = JSON.parse(await readFile(LOAN_APPLICANT, 'utf8'));
      const p = await call('POST', `/v1/models/${id}/proofs`, KEYS.bank, { input: applicant });
      expect(p.status).toBe(202);
      const done = await poll(
        () => call('GET', `/v1/proofs/${p.body.id}`, KEYS.bank),
        (r) => r.body.status === 'done' || r.body.status === 'failed',
      );
      expect(done.body.status, JSON.stringify(done.body)).toBe('done');
      expect(done.body.modelVersion).toBe(1);
      const model = await call('GET', `/v1/models/${id}`, KEYS.regulator);
      expect(done.body.bundle.vkeyHash).toBe(model.body.vkeyHash);
      const v = await call('POST', '/v1/verify', KEYS.regulator, { bundle: done.body.bundle });
      expect(v.status).toBe(200);
      expect(v.body).toMatchObject({ valid: true, version: 1, vkeyHash: model.body.vkeyHash });
      expect(v.body.setup.trust.kind).toBe('ceremony');
      // Who uploaded each contribution, as the service recorded it, beside the self-chosen name:
      // only uploads with a key other than the owner's count as independent.
      expect(v.body.tenant).toBe('bank');
      expect(v.body.setup.trust.label).toContain('"alice (regulator)" (a self-chosen name), uploaded by contributor:bank;');
      expect(v.body.setup.trust.label).toContain('"bob (bank)" (a self-chosen name), uploaded by prover:bank, the owner');
      expect(v.body.setup.trust.independent).toBe(v.body.setup.ceremony.contributions.filter((c: any) => c.uploadedBy.startsWith('contributor:')).length);
      expect(v.body.trust).toMatch(/^SETUP: DEVELOPMENT/);
      expect(v.body.setup.ceremony.contributions.map((c: any) => c.name)).toEqual([
        'alice (regulator)',
        'bob (bank)',
        expect.any(String),
        expect.any(String),
        expect.any(String),
      ]);
      expect(v.body.setup.phase2).toHaveLength(6);
      // The Solidity verifier for the ceremony key (compiled when the ceremony was finalized).
      const contracts = await call('GET', `/v1/models/${id}/contracts`, KEYS.regulator);
      expect(contracts.status).toBe(200);
      expect(contracts.body.verifier.bytecode).toMatch(/^0x[0-9a-f]+$/);
      expect(contracts.body.registry.source).toContain(`MODEL_COMMITMENT = ${done.body.bundle.publicSignals[0]}`);
    }, 240_000);

    it("a key whose only contributions are the service's own is labelled so", () => {
      const service = phase2Trust({
        phase2: [
          { name: 'zkinfer phase 2 contribution', hash: 'a' },
          { name: 'zkinfer phase 2 beacon (00, 2^10 iterations)', hash: 'b' },
        ],
      });
      expect(service).toMatchObject({ kind: 'service', contributions: 1 });
      expect(service.label).toMatch(/could forge/);
      expect(
        phase2Trust({
          phase2: [
            { name: 'alice', hash: 'a' },
            { name: 'final beacon (beacon 00, 2^10 iterations)', hash: 'b' },
          ],
        }),
      ).toMatchObject({ kind: 'external', contributions: 1 });
    });

    it('`zkinfer audit` on the files the service hands out lists every contribution and the beacon', async () => {
      const files: Record<string, string> = {};
      for (const kind of ['zkey', 'ptau', 'r1cs'] as const) {
        const r = await call('GET', `/v1/models/${id}/artifacts/${kind}`, KEYS.regulator);
        expect(r.status, `${kind}: ${r.bytes.toString('utf8', 0, 200)}`).toBe(200);
        files[kind] = path.join(dir, `audit.${kind}`);
        await writeFile(files[kind], r.bytes);
      }
      const vkey = await call('GET', `/v1/models/${id}/vkey`, KEYS.regulator);
      files.vkey = path.join(dir, 'audit-vkey.json');
      await writeFile(files.vkey, JSON.stringify(vkey.body));
      const a = await cli(['audit', LOAN_MODEL, '--vkey', files.vkey, '--zkey', files.zkey, '--ptau', files.ptau, '--r1cs', files.r1cs, '--json']);
      expect(a.code, a.stderr).toBe(0);
      const report = JSON.parse(a.stdout);
      expect(report.ok).toBe(true);
      expect(report.contributions.map((c: any) => c.hash)).toEqual([
        hashes.alice,
        hashes.bob,
        hashes.race,
        hashes.four,
        hashes.five,
        expect.stringMatching(/^[0-9a-f]{128}$/),
      ]);
      expect(report.contributions[5].beacon).toEqual({ hash: BEACON, iterationsExp: 10 });
      const text = await cli(['audit', LOAN_MODEL, '--vkey', files.vkey, '--zkey', files.zkey, '--ptau', files.ptau]);
      expect(text.stdout).toContain(`#1 alice (regulator): ${hashes.alice}`);
      expect(text.stdout).not.toMatch(/made by the proving service alone/);
    }, 180_000);
  });
