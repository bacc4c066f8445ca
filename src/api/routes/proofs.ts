import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { checkInput } from '../../quant/check-input.ts';
import { ReferenceCheck } from '../reference-check.ts';
import { failedByInfrastructure } from '../../core/infra-errors.ts';
import { FIELD_ORDER } from '../../fixed/field.ts';
import { eraseReceipt, readBundle, readReceipt } from '../../store/proof-files.ts';
import type { ProofRecord } from '../../store/proofs.ts';
import { CursorError } from '../../store/rows.ts';
import { FINGERPRINT_PREFIX, payloadFingerprint } from '../idempotency.ts';
import { HttpError } from '../http-error.ts';
import { findModel, findProof } from '../lookup.ts';
import { Accepted, errorResponses, ProofListQuery, ProofPageSchema, ProofRequestSchema, ProofSchema } from '../schemas.ts';
import { pageLimit } from './models.ts';

const errors = errorResponses(400, 401, 403, 404, 409, 413, 415, 429, 503);
const receiptErrors = { ...errors, ...errorResponses(410) };
const receiptGone = () =>
  new HttpError(410, 'RECEIPT_GONE', "the receipt expired or was erased: the service no longer holds the applicant's salt and features", 'id');

interface ProofBody {
  input: unknown;
  salt?: string;
  nonce?: string;
}

export async function proofRoutes(app: FastifyInstance): Promise<void> {
  const reference = new ReferenceCheck(app.config.limits, (m) => app.log.warn(m));
  app.post(
    '/v1/models/:id/proofs',
    {
      bodyLimit: app.config.proofBodyLimit,
      schema: {
        summary:
          'Request a proof of one inference. Send an Idempotency-Key header to make retries safe: the same key returns the ' +
          'same proof; the same key with another payload is a 409. A proof that failed because of the infrastructure (an ' +
          'outage of the database, Redis or the disk longer than OUTAGE_BUDGET_SECONDS, reason starting with OUTAGE:) is ' +
          'queued again under the same id when its key is sent again. While the database or the disk is down, a 503 with Retry-After.',
        params: Type.Object({ id: Type.String() }),
        headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) }),
        body: ProofRequestSchema,
        response: { 202: Accepted, ...errors },
      },
    },
    async (req, reply) => {
      const caller = app.auth(req, ['prover']);
      const model = await findModel(req, caller, { ready: true });
      const version = await app.stores.versions.latest(model.tenant, model.id);
      if (!version) throw new HttpError(409, 'MODEL_NOT_READY', 'the model has no key yet', 'id');
      const body = req.body as ProofBody;
      // The input's shape, values and per-feature ranges are checked now, against the key
      // version's descriptor, before anything serializes the body (the idempotency hash and
      // the stored request do): a bad input is a 400 naming the feature and the bound
      // (never the value), not a failed job later.
      checkInput(body.input, version.descriptor);
      // The integer reference the prover runs, on the model's weights: an input whose
      // intermediate values overflow a layer's width is a 400 naming the layer, now.
      await reference.check(model, body.input);
      for (const f of ['salt', 'nonce'] as const) {
        if (body[f] !== undefined && BigInt(body[f]) >= FIELD_ORDER)
          throw new HttpError(400, 'VALIDATION', `${f} must be below the field order r`, `body.${f}`);
      }
      // The queue backend cannot take jobs now: say so at once instead of accepting work.
      if (!app.queue.accepting()) throw new HttpError(503, 'BACKEND_UNAVAILABLE', 'the job queue is unavailable; try again later');
      const key = req.headers['idempotency-key'] as string | undefined;
      // The record, the private request and the key commit together: a 202 means the proof
      // will be made (or fail with a reason), whatever dies next.
      const r = await app.stores.proofs.accept({
        id: randomUUID(),
        tenant: caller.tenant,
        modelId: model.id,
        request: { input: body.input, salt: body.salt, nonce: body.nonce },
        idempotency: key ? { key, payloadHash: payloadFingerprint(app.idempotencySecret, model.id, body) } : undefined,
      });
      if (r.kind === 'existing') {
        if (!r.payloadHash.startsWith(FINGERPRINT_PREFIX)) {
          throw new HttpError(
            409,
            'IDEMPOTENCY_CONFLICT',
            'this Idempotency-Key was bound before an upgrade of the service and its payload can no longer be compared: send the request with a new key',
            'idempotency-key',
          );
        }
        if (r.payloadHash !== payloadFingerprint(app.idempotencySecret, model.id, body))
          throw new HttpError(409, 'IDEMPOTENCY_CONFLICT', 'this Idempotency-Key was used with another payload', 'idempotency-key');
        // A proof the infrastructure failed (an outage past its budget) is made again, under
        // the same id, when its key is sent again; a proof its input or model failed is not.
        if (r.status === 'failed') {
          const rec = await app.stores.proofs.get(r.proofId);
          if (
            failedByInfrastructure(rec?.reason) &&
            (await app.stores.proofs.requeueFailed(r.proofId, { input: body.input, salt: body.salt, nonce: body.nonce }))
          ) {
            await app.queue.enqueueProve(r.proofId).catch((e: Error) => req.log.warn({ err: e }, 'proof job not handed to the queue yet'));
            return reply.status(202).send({ id: r.proofId, status: 'queued' });
          }
        }
        return reply.status(202).send({ id: r.proofId, status: r.status });
      }
      // Committed: if this hand-off fails (Redis went down just now), the reconciler makes it.
      await app.queue.enqueueProve(r.proofId).catch((e: Error) => req.log.warn({ err: e }, 'proof job not handed to the queue yet'));
      return reply.status(202).send({ id: r.proofId, status: 'queued' });
    },
  );

  app.get(
    '/v1/proofs/:id',
    {
      schema: {
        summary: 'A proof request: status, stage, timings, and the bundle when done',
        params: Type.Object({ id: Type.String() }),
        response: { 200: ProofSchema, ...errors },
      },
    },
    async (req) => {
      const rec = await findProof(req, app.auth(req, ['prover', 'verifier']));
      const pub = publicProof(rec);
      const bundle = rec.status === 'done' ? await readBundle(rec.id) : null;
      return { ...pub, ...(bundle ? { bundle } : {}) };
    },
  );

  app.get(
    '/v1/proofs/:id/receipt',
    {
      schema: {
        summary:
          "The applicant's receipt (salt and quantized features), for the prover to hand to the applicant; never shown to a " +
          'verifier. Kept RECEIPT_TTL_SECONDS after the proof is done (default 24 h), then deleted: 410 RECEIPT_GONE after ' +
          'that or after an erasure.',
        params: Type.Object({ id: Type.String() }),
        response: { 200: Type.Object({}, { additionalProperties: true }), ...receiptErrors },
      },
    },
    async (req) => {
      const rec = await findProof(req, app.auth(req, ['prover']), { done: true });
      const receipt = await readReceipt(rec.id, app.config.receiptTtlMs);
      if (!receipt) throw await noReceipt(rec);
      return receipt;
    },
  );

  app.delete(
    '/v1/proofs/:id/receipt',
    {
      schema: {
        summary: "Erase the applicant's receipt now (it is deleted anyway once RECEIPT_TTL_SECONDS pass): a later fetch is 410 RECEIPT_GONE",
        params: Type.Object({ id: Type.String() }),
        response: { 200: Type.Object({ id: Type.String(), erased: Type.Boolean() }), ...receiptErrors },
      },
    },
    async (req) => {
      const rec = await findProof(req, app.auth(req, ['prover']), { done: true });
      if (!(await eraseReceipt(rec.id))) throw await noReceipt(rec);
      req.log.info({ proof: rec.id }, 'receipt erased on request');
      return { id: rec.id, erased: true };
    },
  );

  /** Why a done proof has no receipt: its input is public (404), or the receipt is gone (410). */
  async function noReceipt(rec: ProofRecord): Promise<HttpError> {
    const model = await app.stores.models.get(rec.tenant, rec.modelId);
    if (model?.publicInput) return new HttpError(404, 'NOT_FOUND', 'this proof has a public input and no receipt', 'id');
    return receiptGone();
  }

  app.get(
    '/v1/proofs',
    {
      schema: {
        summary:
          "List the caller's proofs, newest first, a page at a time (`limit`, and `cursor` from the previous page's nextCursor), optionally for one model",
        querystring: ProofListQuery,
        response: { 200: ProofPageSchema, ...errors },
      },
    },
    async (req) => {
      const caller = app.auth(req, ['prover', 'verifier']);
      const q = req.query as { modelId?: string; limit?: string; cursor?: string };
      try {
        const page = await app.stores.proofs.list({
          tenant: caller.role === 'admin' ? undefined : caller.tenant,
          modelId: q.modelId,
          limit: pageLimit(q.limit),
          cursor: q.cursor,
        });
        return { items: page.items.map(publicProof), nextCursor: page.nextCursor };
      } catch (e) {
        if (e instanceof CursorError) throw new HttpError(400, 'VALIDATION', e.message, 'querystring.cursor');
        throw e;
      }
    },
  );
}

/** A proof record as callers see it: no tenant, no bookkeeping. */
function publicProof(rec: ProofRecord) {
  const { tenant: _t, attempts: _a, ...pub } = rec;
  return pub;
}
