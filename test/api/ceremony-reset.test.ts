// Ceremony robustness over REST (#20, item 5) on the embedded store with its worker process
// and a real HTTP server, real zkeys: a beacon uploaded as a contribution is refused naming
// the problem; a ceremony stuck on a key that holds a beacon (as uploads before this check
// could leave it) says how to get out, and its owner resets it to the initial key (recorded,
// contributions dropped); contributors start again and a 0x beacon finalizes it. Refused
// uploads never name a server file.
import { copyFile, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createHash, randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.ts';
import { contribute, finalize, readChain } from '../../src/ceremony/index.ts';
import { type Config, loadConfig } from '../../src/service/config.ts';
import { Ceremonies, ceremonyKeyFile } from '../../src/store/ceremonies.ts';
import { type Db, openDb } from '../../src/store/db.ts';
import { artifactRoot } from '../../src/core/artifacts.ts';
import { LOAN_MODEL } from '../helpers/paths.ts';

const KEYS = {
  bank: 'reset-bank-prover-key-0123456789',
  regulator: 'reset-regulator-verifier-key-0123',
  alice: 'reset-alice-contributor-key-01234',
  other: 'reset-other-prover-key-0123456789',
};
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('ceremony robustness over REST (embedded store)', () => {
  let app: FastifyInstance;
  let db: Db;
  let base: string;
  let id: string;
  let dir: string;
  let initialSha: string;

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
    return { status: res.status, body: json, bytes: buf };
  };
  const download = async (name: string) => {
    const r = await call('GET', `/v1/models/${id}/ceremony/zkey`, KEYS.alice);
    expect(r.status).toBe(200);
    const file = path.join(dir, name);
    await writeFile(file, r.bytes);
    return { file, sha: sha256(r.bytes) };
  };
  const upload = async (file: string, baseSha: string, key = KEYS.alice) =>
    call('POST', `/v1/models/${id}/ceremony/contributions`, key, new Uint8Array(await readFile(file)), { 'x-zkinfer-base-sha256': baseSha });
  /** No answer names a file of the service. */
  const noServerPath = (body: unknown) => {
    const text = JSON.stringify(body);
    expect(text).not.toContain(artifactRoot());
    expect(text).not.toMatch(/\.upload-[0-9a-f-]+\.tmp|\/tmp\/|\.zkey"/);
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-ceremony-reset-'));
    db = await openDb({ dir: path.join(dir, 'db') });
    const config: Config = {
      ...loadConfig({}),
      host: '127.0.0.1',
      port: 0,
      dbDir: path.join(dir, 'db'),
      queuePrefix: `test-reset-${randomUUID()}`,
      reconcileIntervalMs: 500,
      rateLimit: 10_000,
      apiKeys: [
        { key: KEYS.bank, role: 'prover', tenant: 'bank' },
        { key: KEYS.regulator, role: 'verifier', tenant: 'bank' },
        { key: KEYS.alice, role: 'contributor', tenant: 'bank' },
        { key: KEYS.other, role: 'prover', tenant: 'other' },
      ],
    };
    app = await buildApp({ config, db });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const form = new FormData();
    form.append('model', new Blob([await readFile(LOAN_MODEL)]), 'loan-model.onnx');
    form.append('setup', 'ceremony');
    const up = await fetch(`${base}/v1/models`, { method: 'POST', headers: { authorization: `Bearer ${KEYS.bank}` }, body: form });
    expect(up.status).toBe(202);
    id = ((await up.json()) as { id: string }).id;
    const end = Date.now() + 240_000;
    for (;;) {
      const m = await call('GET', `/v1/models/${id}`, KEYS.bank);
      if (['ceremony', 'ready', 'failed'].includes(m.body.status) || Date.now() > end) {
        expect(m.body.status, JSON.stringify(m.body)).toBe('ceremony');
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    initialSha = (await download('initial.zkey')).sha;
  }, 300_000);

  afterAll(async () => {
    await app?.close();
    await db?.close();
  });

  it('a beacon uploaded as a contribution is a 400 CEREMONY naming the beacon; the ceremony does not move', async () => {
    const cur = await download('start.zkey');
    await contribute(cur.file, path.join(dir, 'alice.zkey'), 'alice');
    const ok = await upload(path.join(dir, 'alice.zkey'), cur.sha);
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    // Mallory applies a beacon to the current key and uploads it as "her contribution".
    const now = await download('after-alice.zkey');
    await finalize(now.file, path.join(dir, 'mallory'), { beacon: 'ee'.repeat(32), iterationsExp: 10, name: 'mallory' });
    const beaconKey = path.join(dir, 'mallory', 'circuit_final.zkey');
    expect((await readChain(beaconKey)).types).toEqual([0, 1]);
    const r = await upload(beaconKey, now.sha);
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ code: 'CEREMONY', field: 'zkey' });
    expect(r.body.message).toMatch(
      /contribution refused: its new contribution "mallory" .* is a beacon, not a contribution: only the ceremony's owner applies the beacon, by finalizing it/,
    );
    noServerPath(r.body);
    const c = await call('GET', `/v1/models/${id}/ceremony`, KEYS.alice);
    expect(c.body.currentSha256).toBe(now.sha);
    expect(c.body.contributions.map((x: any) => x.name)).toEqual(['alice']);
    expect(c.body.resets).toEqual([]);
  }, 120_000);

  it('a refused upload never names a server file (not a zkey, truncated)', async () => {
    const cur = await download('cur.zkey');
    const junk = await call('POST', `/v1/models/${id}/ceremony/contributions`, KEYS.alice, new Uint8Array(Buffer.from('not a zkey at all')), {
      'x-zkinfer-base-sha256': cur.sha,
    });
    expect(junk.status).toBe(400);
    expect(junk.body.message).toMatch(/the uploaded key is not a zkey file/);
    noServerPath(junk.body);
    const bytes = await readFile(cur.file);
    const cut = await call('POST', `/v1/models/${id}/ceremony/contributions`, KEYS.alice, new Uint8Array(bytes.subarray(0, 200)), {
      'x-zkinfer-base-sha256': cur.sha,
    });
    expect(cut.status).toBe(400);
    expect(cut.body.code).toBe('CEREMONY');
    noServerPath(cut.body);
  }, 60_000);

  it('a ceremony stuck on a key that holds a beacon: finalize says so (409 CEREMONY_STUCK); only its owner resets it, recorded', async () => {
    // The state an upload accepted before the beacon check left behind: the current key
    // holds a beacon. Made here as the old route did: the key stored, then recorded.
    const ceremonies = new Ceremonies(db);
    const row = (await ceremonies.get('bank', id))!;
    const beaconKey = path.join(dir, 'mallory', 'circuit_final.zkey');
    const sha = sha256(await readFile(beaconKey));
    await mkdir(path.dirname(ceremonyKeyFile(row.circuitHash, row.ptau.sha256, sha)), { recursive: true });
    await copyFile(beaconKey, ceremonyKeyFile(row.circuitHash, row.ptau.sha256, sha));
    const chain = await readChain(beaconKey);
    expect(
      await ceremonies.accept('bank', id, row.currentSha256, {
        name: 'mallory',
        hash: chain.contributions[1].hash,
        zkeySha256: sha,
        uploadedBy: 'contributor:bank',
        checkMs: 1,
      }),
    ).toEqual({ kind: 'accepted', index: 2 });

    const stuck = await call('POST', `/v1/models/${id}/ceremony/finalize`, KEYS.bank, { beacon: 'ab'.repeat(32), iterationsExp: 10 });
    expect(stuck.status).toBe(409);
    expect(stuck.body).toMatchObject({ code: 'CEREMONY_STUCK', field: 'id' });
    expect(stuck.body.message).toMatch(/reset it to the initial key \(POST \/v1\/models\/\{id\}\/ceremony\/reset\)/);
    noServerPath(stuck.body);

    // Not the owner: a contributor, a verifier (403); another tenant's prover does not see it (404).
    const reason = 'the current key holds a beacon: nothing can finalize it';
    expect((await call('POST', `/v1/models/${id}/ceremony/reset`, KEYS.alice, { reason })).status).toBe(403);
    expect((await call('POST', `/v1/models/${id}/ceremony/reset`, KEYS.regulator, { reason })).status).toBe(403);
    expect((await call('POST', `/v1/models/${id}/ceremony/reset`, KEYS.other, { reason })).status).toBe(404);
    // Bad bodies: no reason, an unknown field, a base that is not current.
    const noReason = await call('POST', `/v1/models/${id}/ceremony/reset`, KEYS.bank, {});
    expect(noReason.status).toBe(400);
    expect(noReason.body).toMatchObject({ code: 'VALIDATION', field: 'body.reason' });
    const blank = await call('POST', `/v1/models/${id}/ceremony/reset`, KEYS.bank, { reason: '   ' });
    expect(blank.body).toMatchObject({ code: 'VALIDATION', field: 'body.reason' });
    expect((await call('POST', `/v1/models/${id}/ceremony/reset`, KEYS.bank, { reason, extra: 1 })).status).toBe(400);
    const old = await call('POST', `/v1/models/${id}/ceremony/reset`, KEYS.bank, { reason, base: initialSha });
    expect(old.status).toBe(409);
    expect(old.body.code).toBe('CEREMONY_BASE_MOVED');

    const r = await call('POST', `/v1/models/${id}/ceremony/reset`, KEYS.bank, { reason, base: sha });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ n: 1, fromSha256: sha, currentSha256: initialSha });
    expect(r.body.dropped.map((d: any) => [d.index, d.name, d.uploadedBy])).toEqual([
      [1, 'alice', 'contributor:bank'],
      [2, 'mallory', 'contributor:bank'],
    ]);
    // Everyone who reads the ceremony sees the reset, who made it and why.
    const c = await call('GET', `/v1/models/${id}/ceremony`, KEYS.regulator);
    expect(c.body).toMatchObject({ state: 'open', currentSha256: initialSha, baseSha256: initialSha, contributions: [] });
    expect(c.body.resets).toEqual([
      expect.objectContaining({
        n: 1,
        fromSha256: sha,
        resetBy: 'prover:bank',
        reason,
        contributions: [expect.objectContaining({ name: 'alice' }), expect.objectContaining({ name: 'mallory', zkeySha256: sha })],
      }),
    ]);
    expect((await call('GET', `/v1/models/${id}`, KEYS.bank)).body).toMatchObject({
      status: 'ceremony',
      ceremony: { resets: [expect.objectContaining({ n: 1 })] },
    });
    // Nothing left to reset.
    const again = await call('POST', `/v1/models/${id}/ceremony/reset`, KEYS.bank, { reason });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('CEREMONY_EMPTY');
  }, 120_000);

  it('after the reset contributors start from the initial key; a 0x beacon finalizes it (recorded without 0x); then no reset', async () => {
    const cur = await download('restart.zkey');
    expect(cur.sha).toBe(initialSha);
    await contribute(cur.file, path.join(dir, 'carol.zkey'), 'carol');
    const up = await upload(path.join(dir, 'carol.zkey'), cur.sha);
    expect(up.status, JSON.stringify(up.body)).toBe(200);
    expect(up.body.index).toBe(1);
    const bad = await call('POST', `/v1/models/${id}/ceremony/finalize`, KEYS.bank, { beacon: '0x', iterationsExp: 10 });
    expect(bad.status).toBe(400);
    expect(bad.body.field).toBe('body.beacon');
    const f = await call('POST', `/v1/models/${id}/ceremony/finalize`, KEYS.bank, { beacon: `0x${'AB'.repeat(32)}`, iterationsExp: 10 });
    expect(f.status, JSON.stringify(f.body)).toBe(200);
    expect(f.body.contributions.map((x: any) => x.name)).toEqual(['carol', `final beacon (beacon ${'ab'.repeat(32)}, 2^10 iterations)`]);
    const model = await call('GET', `/v1/models/${id}`, KEYS.regulator);
    expect(model.body).toMatchObject({ status: 'ready', version: 1, ceremony: { state: 'finalized' } });
    expect(model.body.setup.ceremony.beacon).toMatchObject({ hash: 'ab'.repeat(32), iterationsExp: 10 });
    const after = await call('POST', `/v1/models/${id}/ceremony/reset`, KEYS.bank, { reason: 'too late' });
    expect(after.status).toBe(409);
    expect(after.body.code).toBe('CEREMONY_FINALIZED');
  }, 120_000);
});
