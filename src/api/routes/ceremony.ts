import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { beaconHex } from '../../ceremony/ceremony.ts';
import { CeremonyProcesses } from '../../ceremony/check-processes.ts';
import type { CeremonyTaskResult } from '../../ceremony/check-child.ts';
import { type ErrorCode, ZkinferError } from '../../core/errors.ts';
import { BUNDLED_DEV_PTAU } from '../../prover/ptau.ts';
import type { SetupProvenance } from '../../bundle/format.ts';
import { PHASE1_ENV, ptauFileFor } from '../../service/phase1.ts';
import { type CeremonyPtau, type CeremonyRow, ceremonyKeyFile, dropCeremonyKey, fetchCeremonyFiles } from '../../store/ceremonies.ts';
import { artifactDir, artifactRoot } from '../../core/artifacts.ts';
import { artifactStore } from '../../core/artifact-store.ts';
import { hashFile } from '../../core/hash.ts';
import type { ModelRecord } from '../../store/models.ts';
import type { Caller } from '../auth.ts';
import { HttpError } from '../http-error.ts';
import { findModel } from '../lookup.ts';
import { errorResponses, TenantQuery } from '../schemas.ts';
import { CeremonySchema, ceremonyView } from './ceremony-view.ts';

const errors = errorResponses(400, 401, 403, 404, 409, 413, 415, 429, 503);
const ModelId = Type.Object({ id: Type.String() });
const SHA256 = /^[0-9a-f]{64}$/;
/** Beacon iterations the API applies at most (2^24 sha256 rounds: seconds; snarkjs allows 63, which never ends). */
const MAX_ITERATIONS_EXP = 24;

/** `message` with each of `names`' paths replaced by its words, and any other server path cut. */
export function scrubPaths(message: string, names: Record<string, string>): string {
  let out = message;
  for (const [file, words] of Object.entries(names).sort((a, b) => b[0].length - a[0].length)) out = out.replaceAll(file, words);
  for (const root of [artifactRoot(), path.dirname(BUNDLED_DEV_PTAU.file)]) {
    out = out.replace(new RegExp(`${root.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[^\\s:;,'"()]*`, 'g'), 'a file of the service');
  }
  return out;
}

/** The ptau file a ceremony's keys were made on: a development file, or the configured ZKINFER_PTAU when its bytes are the ceremony's. */
async function ptauFile(p: CeremonyPtau, configured: string | null): Promise<string> {
  const file = await ptauFileFor(p, configured);
  if (file) return file;
  throw new HttpError(
    409,
    'ARTIFACT_MISSING',
    `the ceremony's powers of tau (${p.name}) is not the file this service is configured with (${PHASE1_ENV.ptau})`,
    'ptau',
  );
}

/**
 * A task's answer, or the error it names (a refused contribution is a 400 CEREMONY). The
 * files the task read are named as what they are (`names`: path -> words), and any other
 * path under the artifact store is cut: a caller never learns where the service keeps files.
 */
function answer<K extends 'contribution' | 'finalize'>(
  r: CeremonyTaskResult,
  kind: K,
  names: Record<string, string> = {},
): Extract<CeremonyTaskResult, { ok: true; kind: K }> {
  if (!r.ok) {
    if ('internal' in r) throw new Error(r.internal);
    throw new ZkinferError(r.code as ErrorCode, scrubPaths(r.message, names), r.field);
  }
  if (r.kind !== kind) throw new Error(`ceremony process answered ${r.kind} to ${kind}`);
  return r as Extract<CeremonyTaskResult, { ok: true; kind: K }>;
}

/**
 * REST ceremonies (#13): a model registered with setup=ceremony waits in status 'ceremony'
 * with its initial key; contributors download the latest key, add one contribution with
 * their own entropy, and upload it naming the key it extends; the owner finalizes it with a
 * public beacon, which makes the model's key version. Checks run in a child process.
 */
export async function ceremonyRoutes(app: FastifyInstance): Promise<void> {
  const ceremonies = app.stores.ceremonies;
  const checks = new CeremonyProcesses();
  app.addHook('onClose', async () => checks.close());
  // One check at a time per API process: a second upload on the same base then finds the
  // base moved (409) without spending seconds on a check; across processes the database's
  // compare-and-set decides.
  let turn: Promise<unknown> = Promise.resolve();
  const inTurn = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = turn.then(fn, fn);
    turn = run.catch(() => undefined);
    return run;
  };

  /** The ceremony model named by `:id` as this caller may see it (a contributor: its own tenant's only). */
  async function lookup(req: FastifyRequest, caller: Caller): Promise<{ model: ModelRecord; c: CeremonyRow }> {
    const model = await findModel(req, caller.role === 'contributor' ? { ...caller, role: 'prover' } : caller);
    if (model.setup !== 'ceremony')
      throw new HttpError(
        404,
        'NOT_FOUND',
        'this model has no ceremony: it was registered with the service\u2019s own setup (setup=ceremony at upload starts one)',
        'id',
      );
    const c = await ceremonies.get(model.tenant, model.id);
    if (!c)
      throw new HttpError(
        409,
        'MODEL_NOT_READY',
        `the model is ${model.status}${model.reason ? `: ${model.reason}` : ''}; its ceremony starts when the compile is done`,
        'id',
      );
    return { model, c };
  }

  const keyFile = (c: CeremonyRow, sha: string) => ceremonyKeyFile(c.circuitHash, c.ptau.sha256, sha);
  const r1csFile = (c: CeremonyRow) => path.join(artifactDir('circuit', c.circuitHash), 'main.r1cs');
  const fetchInputs = (c: CeremonyRow, base: string) => fetchCeremonyFiles(c.circuitHash, c.ptau.sha256, base);
  const moved = (c: { currentSha256: string } | { current: string }, base: string) =>
    new HttpError(
      409,
      'CEREMONY_BASE_MOVED',
      `the ceremony's current key is ${'current' in c ? c.current : c.currentSha256}, not the base ${base} this ` +
        `contribution extends (another contribution came first, or the base is old): download the current key and ` +
        `contribute again`,
      'x-zkinfer-base-sha256',
    );
  const finalized = () => new HttpError(409, 'CEREMONY_FINALIZED', 'the ceremony is finalized: no contribution can follow the beacon', 'id');

  await app.register(async (s) => {
    // Uploaded keys are read by the route itself (streamed to a file, size-limited by the
    // current key's size), not buffered by a parser.
    s.addContentTypeParser('application/octet-stream', (_req, _payload, done) => done(null));

    s.get(
      '/v1/models/:id/ceremony',
      {
        schema: {
          summary:
            "A model's phase-2 ceremony: the chain so far (contributor, contribution hash, time, who uploaded), the initial " +
            "and current keys' sha256, and its state",
          params: ModelId,
          querystring: TenantQuery,
          response: { 200: CeremonySchema, ...errors },
        },
      },
      async (req) => ceremonyView((await lookup(req, app.auth(req, ['prover', 'verifier', 'contributor']))).c),
    );

    s.get(
      '/v1/models/:id/ceremony/zkey',
      {
        schema: {
          summary:
            "The ceremony's latest key (the base of the next contribution; after finalize, the final key), checked against its " +
            'recorded sha256 (header x-zkinfer-sha256)',
          params: ModelId,
          querystring: TenantQuery,
          response: { 200: { description: 'the zkey', content: { 'application/octet-stream': { schema: Type.String({ format: 'binary' }) } } }, ...errors },
        },
      },
      async (req, reply) => {
        const { c } = await lookup(req, app.auth(req, ['prover', 'verifier', 'contributor']));
        const file = keyFile(c, c.currentSha256);
        await artifactStore().fetch(file);
        const actual = await hashFile(file).catch(() => null);
        if (actual === null) throw new HttpError(404, 'ARTIFACT_MISSING', 'the ceremony\u2019s current key is no longer stored', 'id');
        if (actual !== c.currentSha256)
          throw new HttpError(409, 'ARTIFACT_CORRUPT', `the stored key hashes to ${actual}, not the recorded ${c.currentSha256}`, 'id');
        reply
          .type('application/octet-stream')
          .header('x-zkinfer-sha256', actual)
          .header('x-zkinfer-contributions', String(c.contributions.length))
          .header('content-disposition', `attachment; filename="${c.modelId}-ceremony-${c.contributions.length}.zkey"`);
        return reply.send(createReadStream(file));
      },
    );

    s.post(
      '/v1/models/:id/ceremony/contributions',
      {
        schema: {
          summary:
            'Upload a contribution: the body is the new zkey (application/octet-stream, at most twice the current key), the ' +
            'header x-zkinfer-base-sha256 (or ?base=) the sha256 of the key it extends. Accepted (200) only if it extends the ' +
            "current key by exactly one contribution and verifies against the circuit's r1cs and the ptau; a refused key is a " +
            '400 CEREMONY naming why; a base that is no longer the current key (another upload came first, or an old base) is a ' +
            '409 CEREMONY_BASE_MOVED: download the current key and contribute again.',
          params: ModelId,
          querystring: Type.Object(
            { tenant: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]+$' })), base: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })) },
            { additionalProperties: false },
          ),
          headers: Type.Object({ 'x-zkinfer-base-sha256': Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })) }),
          consumes: ['application/octet-stream'],
          response: {
            200: Type.Object({
              index: Type.Integer(),
              name: Type.String(),
              hash: Type.String(),
              zkeySha256: Type.String(),
              baseSha256: Type.String(),
              checkMs: Type.Number(),
            }),
            ...errors,
          },
        },
      },
      async (req, reply) => {
        const caller = app.auth(req, ['prover', 'contributor']);
        const { model, c } = await lookup(req, caller);
        const base = (req.headers['x-zkinfer-base-sha256'] as string | undefined) ?? (req.query as { base?: string }).base;
        if (!(req.headers['content-type'] ?? '').startsWith('application/octet-stream')) {
          throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'upload the zkey as application/octet-stream', 'content-type');
        }
        if (!base || !SHA256.test(base))
          throw new HttpError(
            400,
            'VALIDATION',
            'name the key this contribution extends: header x-zkinfer-base-sha256 (or ?base=), its sha256',
            'x-zkinfer-base-sha256',
          );
        if (c.state !== 'open') throw finalized();
        await artifactStore().fetch(keyFile(c, c.currentSha256));
        const limit = 2 * (await stat(keyFile(c, c.currentSha256))).size + 65_536;
        const declared = Number(req.headers['content-length'] ?? 0);
        if (declared > limit) {
          reply.header('connection', 'close');
          throw new HttpError(413, 'PAYLOAD_TOO_LARGE', `a contribution is at most ${limit} bytes (twice the current key)`, 'body');
        }
        // The body, to a private file beside the keys, hashed and counted as it arrives.
        const dir = path.dirname(keyFile(c, c.currentSha256));
        await mkdir(dir, { recursive: true });
        const tmp = path.join(dir, `.upload-${randomUUID()}.tmp`);
        const h = createHash('sha256');
        let size = 0;
        try {
          await pipeline(
            req.raw,
            new Transform({
              transform(chunk: Buffer, _enc, cb) {
                size += chunk.length;
                if (size > limit)
                  return cb(new HttpError(413, 'PAYLOAD_TOO_LARGE', `a contribution is at most ${limit} bytes (twice the current key)`, 'body'));
                h.update(chunk);
                cb(null, chunk);
              },
            }),
            createWriteStream(tmp),
          );
        } catch (e) {
          await rm(tmp, { force: true });
          if (e instanceof HttpError) reply.header('connection', 'close');
          throw e;
        }
        const sha = h.digest('hex');
        let stored = false;
        try {
          return await inTurn(async () => {
            // The base may have moved while this upload waited its turn: say so before checking.
            const now = await ceremonies.get(model.tenant, model.id);
            if (!now || now.state !== 'open') throw finalized();
            if (now.currentSha256 !== base) throw moved(now, base);
            await fetchInputs(now, base);
            const r = answer(
              await checks.run({
                kind: 'contribution',
                base: keyFile(now, base),
                candidate: tmp,
                r1cs: r1csFile(now),
                r1csSha256: now.r1csSha256,
                ptau: await ptauFile(now.ptau, app.config.ptau),
              }),
              'contribution',
              {
                [tmp]: 'the uploaded key',
                [keyFile(now, base)]: 'the ceremony\u2019s current key',
                [r1csFile(now)]: 'the circuit\u2019s r1cs',
              },
            );
            // Stored under its content address before the record names it.
            await rename(tmp, keyFile(now, sha));
            await artifactStore().putFiles([keyFile(now, sha)]);
            stored = true;
            const out = await ceremonies.accept(model.tenant, model.id, base, {
              name: r.added.name,
              hash: r.added.hash,
              zkeySha256: sha,
              uploadedBy: `${caller.role}:${caller.tenant}`,
              checkMs: r.ms,
            });
            if (out.kind === 'moved') {
              if (!(await ceremonies.keyInUse(sha))) await dropCeremonyKey(keyFile(now, sha));
              throw moved(out, base);
            }
            if (out.kind !== 'accepted') throw finalized();
            req.log.info({ model: model.id, index: out.index, checkMs: Math.round(r.ms) }, 'ceremony contribution accepted');
            return { index: out.index, name: r.added.name, hash: r.added.hash, zkeySha256: sha, baseSha256: base, checkMs: Math.round(r.ms) };
          });
        } finally {
          if (!stored) await rm(tmp, { force: true });
        }
      },
    );

    s.post(
      '/v1/models/:id/ceremony/finalize',
      {
        schema: {
          summary:
            "Close the ceremony (the model's owner): applies the public beacon (2^iterationsExp hash iterations) to the " +
            'current key, checks the final key against the r1cs and ptau, exports the verification key and records it as the ' +
            "model's new key version; only then is the model ready. The version's setup provenance lists every contribution and " +
            'the beacon.',
          params: ModelId,
          querystring: TenantQuery,
          body: Type.Object(
            {
              beacon: Type.String({
                pattern: '^(0[xX])?([0-9a-fA-F]{2}){1,255}$',
                description:
                  'public randomness fixed in advance (a future block hash, a drand round), hex, with or without 0x (recorded without it, lowercase)',
              }),
              iterationsExp: Type.Integer({ minimum: 10, maximum: MAX_ITERATIONS_EXP, description: 'log2 of the beacon hash iterations' }),
              base: Type.Optional(
                Type.String({ pattern: '^[0-9a-f]{64}$', description: 'the key to finalize (default: the current one); 409 if it is no longer current' }),
              ),
            },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({
              version: Type.Integer(),
              vkeyHash: Type.String(),
              zkeySha256: Type.String(),
              beaconHash: Type.String(),
              contributions: Type.Array(Type.Object({ name: Type.String(), hash: Type.String() })),
              ms: Type.Number(),
            }),
            ...errors,
          },
        },
      },
      async (req) => {
        const caller = app.auth(req, ['prover']);
        const { model, c } = await lookup(req, caller);
        const body = req.body as { beacon: string; iterationsExp: number; base?: string };
        const beacon = beaconHex(body.beacon);
        if (c.state !== 'open') throw new HttpError(409, 'CEREMONY_FINALIZED', 'the ceremony is already finalized', 'id');
        const base = body.base ?? c.currentSha256;
        return inTurn(async () => {
          const now = await ceremonies.get(model.tenant, model.id);
          if (!now || now.state !== 'open') throw new HttpError(409, 'CEREMONY_FINALIZED', 'the ceremony is already finalized', 'id');
          if (now.currentSha256 !== base) throw moved(now, base);
          if (now.contributions.length === 0)
            throw new ZkinferError('CEREMONY', 'the ceremony has no contribution: a beacon alone is public, so anyone could forge', 'id');
          await fetchInputs(now, base);
          const outDir = path.join(path.dirname(keyFile(now, base)), `.final-${randomUUID()}`);
          try {
            const result = await checks.run({
              kind: 'finalize',
              zkey: keyFile(now, base),
              outDir,
              beacon,
              iterationsExp: body.iterationsExp,
              r1cs: r1csFile(now),
              r1csSha256: now.r1csSha256,
              ptau: await ptauFile(now.ptau, app.config.ptau),
              descriptor: now.pending.descriptor,
            });
            // A current key that already holds a beacon (accepted as a contribution before
            // uploads were checked for it) can never be finalized: say how to get out.
            if (!result.ok && 'code' in result && result.code === 'CEREMONY' && result.field === 'in' && /already finalized/.test(result.message)) {
              throw new HttpError(
                409,
                'CEREMONY_STUCK',
                'the ceremony\u2019s current key already holds a beacon, so no beacon can follow and the ceremony cannot finish: ' +
                  'its owner can reset it to the initial key (POST /v1/models/{id}/ceremony/reset), then contributors start again',
                'id',
              );
            }
            const r = answer(result, 'finalize', {
              [keyFile(now, base)]: 'the ceremony\u2019s current key',
              [outDir]: 'the final key\u2019s folder',
              [r1csFile(now)]: 'the circuit\u2019s r1cs',
            });
            await rename(r.zkey, keyFile(now, r.zkeySha256));
            await artifactStore().putFiles([keyFile(now, r.zkeySha256)]);
            const last = r.chain.at(-1)!;
            const { wasmSha256, insecure, ...pending } = now.pending;
            const setup: SetupProvenance = {
              insecure,
              ptau: { kind: now.ptau.kind as SetupProvenance['ptau']['kind'], name: now.ptau.name, power: now.ptau.power, sha256: now.ptau.sha256 },
              phase2: r.chain.map((x) => ({
                name: x.beacon ? `${x.name} (beacon ${x.beacon.hash}, 2^${x.beacon.iterationsExp} iterations)` : x.name,
                hash: x.hash,
              })),
              circuitHash: now.circuitHash,
              r1csSha256: now.r1csSha256,
              wasmSha256,
              zkeySha256: r.zkeySha256,
              vkeySha256: r.vkeySha256,
              createdAt: new Date().toISOString(),
              ceremony: {
                baseSha256: now.baseSha256,
                contributions: now.contributions.map((x) => ({ index: x.index, name: x.name, hash: x.hash, uploadedBy: x.uploadedBy, createdAt: x.createdAt })),
                beacon: { hash: beacon, iterationsExp: body.iterationsExp, contributionHash: r.hash },
              },
            };
            const out = await ceremonies.finalize(
              model.tenant,
              model.id,
              base,
              { hash: beacon, iterationsExp: body.iterationsExp, contributionHash: r.hash, finalZkeySha256: r.zkeySha256 },
              { ...pending, vkey: r.vkey as never, vkeyHash: r.vkeySha256, setup },
            );
            if (out.kind === 'moved') throw moved(out, base);
            if (out.kind !== 'finalized-now') throw new HttpError(409, 'CEREMONY_FINALIZED', 'the ceremony is already finalized', 'id');
            return {
              version: out.version,
              vkeyHash: r.vkeySha256,
              zkeySha256: r.zkeySha256,
              beaconHash: last.hash,
              contributions: setup.phase2,
              ms: Math.round(r.ms),
            };
          } finally {
            await rm(outDir, { recursive: true, force: true });
          }
        });
      },
    );

    s.post(
      '/v1/models/:id/ceremony/reset',
      {
        schema: {
          summary:
            "Reset an open ceremony to its initial key (the model's owner): for a ceremony that cannot finish (its current key " +
            "holds a beacon, a contributor's key was lost). Every contribution is dropped from the chain and recorded with the " +
            "reset (who, when, why, from which key) in the ceremony's resets; contributors then start again from the initial " +
            'key. A finalized ceremony is never reset (409 CEREMONY_FINALIZED); one still at its initial key is a 409 CEREMONY_EMPTY.',
          params: ModelId,
          querystring: TenantQuery,
          body: Type.Object(
            {
              reason: Type.String({
                minLength: 1,
                maxLength: 500,
                description: 'why, in words: recorded with the reset and shown to everyone who reads the ceremony',
              }),
              base: Type.Optional(
                Type.String({
                  pattern: '^[0-9a-f]{64}$',
                  description: 'the key expected to be current (default: the current one); 409 if it is no longer current',
                }),
              ),
            },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({
              n: Type.Integer(),
              fromSha256: Type.String(),
              currentSha256: Type.String(),
              dropped: Type.Array(Type.Object({ index: Type.Integer(), name: Type.String(), hash: Type.String(), uploadedBy: Type.String() })),
            }),
            ...errors,
          },
        },
      },
      async (req) => {
        const caller = app.auth(req, ['prover']);
        const { model, c } = await lookup(req, caller);
        const body = req.body as { reason: string; base?: string };
        if (!body.reason.trim()) throw new HttpError(400, 'VALIDATION', 'say why the ceremony is reset (it is recorded with the reset)', 'body.reason');
        if (c.state !== 'open') throw new HttpError(409, 'CEREMONY_FINALIZED', 'the ceremony is finalized: it made a key version and is never reset', 'id');
        const base = body.base ?? c.currentSha256;
        // In turn with the checks: a contribution being checked now lands before or is refused after.
        return inTurn(async () => {
          const out = await ceremonies.reset(model.tenant, model.id, base, `${caller.role}:${caller.tenant}`, body.reason.trim());
          if (out.kind === 'moved') throw moved(out, base);
          if (out.kind === 'finalized')
            throw new HttpError(409, 'CEREMONY_FINALIZED', 'the ceremony is finalized: it made a key version and is never reset', 'id');
          if (out.kind === 'empty') throw new HttpError(409, 'CEREMONY_EMPTY', 'the ceremony is at its initial key already: there is nothing to reset', 'id');
          if (out.kind !== 'reset') throw new HttpError(404, 'NOT_FOUND', 'the ceremony is gone', 'id');
          req.log.warn(
            { model: model.id, tenant: model.tenant, n: out.n, dropped: out.dropped.length, by: `${caller.role}:${caller.tenant}` },
            'ceremony reset to its initial key',
          );
          return {
            n: out.n,
            fromSha256: base,
            currentSha256: c.baseSha256,
            dropped: out.dropped.map((d) => ({ index: d.index, name: d.name, hash: d.hash, uploadedBy: d.uploadedBy })),
          };
        });
      },
    );
  });
}
