import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { parseInput } from '../../model/parse-input.ts';
import { FIELD_ORDER } from '../../quant/field.ts';
import { sha256Hex } from '../../store/paths.ts';
import { HttpError } from '../http-error.ts';
import { findModel, findProof } from '../lookup.ts';
import { Accepted, ErrorSchema, ProofRequestSchema, ProofSchema } from '../schemas.ts';
import type { AppContext } from '../app.ts';

const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 413: ErrorSchema, 415: ErrorSchema, 429: ErrorSchema, 503: ErrorSchema };

interface ProofBody {
  input: unknown;
  salt?: string;
  nonce?: string;
}

export async function proofRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  app.post(
    '/v1/models/:id/proofs',
    {
      schema: {
        summary: 'Request a proof of one inference. Send an Idempotency-Key header to make retries safe: the same key returns the same proof; the same key with another payload is a 409.',
        params: Type.Object({ id: Type.String() }),
        headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) }),
        body: ProofRequestSchema,
        response: { 202: Accepted, ...errors },
      },
    },
    async (req, reply) => {
      const caller = ctx.auth(req, ['prover']);
      const model = await findModel(ctx, req, caller, { ready: true });
      const modelId = model.id;
      const body = req.body as ProofBody;
      // Shape and type errors in the input are a 400 now, not a failed job later.
      const inputs = model.inputs ?? [];
      parseInput(body.input, { inputs, inputSize: inputs.reduce((a, i) => a + i.size, 0) });
      for (const f of ['salt', 'nonce'] as const) {
        if (body[f] !== undefined && BigInt(body[f]) >= FIELD_ORDER) throw new HttpError(400, 'VALIDATION', `${f} must be below the field order r`, `body.${f}`);
      }
      let proofId = randomUUID();
      const key = req.headers['idempotency-key'] as string | undefined;
      if (key) {
        const payloadHash = sha256Hex(modelId, JSON.stringify(body));
        const bound = await ctx.idempotency.claim(`${caller.tenant}:${key}`, payloadHash, proofId);
        if (bound.payloadHash !== payloadHash) throw new HttpError(409, 'IDEMPOTENCY_CONFLICT', 'this Idempotency-Key was used with another payload', 'idempotency-key');
        if (bound.proofId !== proofId) return reply.status(202).send({ id: bound.proofId, status: (await ctx.proofs.get(bound.proofId))?.status ?? 'queued' });
        proofId = bound.proofId;
      }
      const now = new Date().toISOString();
      await ctx.proofs.saveRequest(proofId, { input: body.input, salt: body.salt, nonce: body.nonce });
      await ctx.proofs.put({ id: proofId, modelId, tenant: caller.tenant, status: 'queued', stage: 'queued', createdAt: now, updatedAt: now });
      await ctx.queue.enqueueProve(proofId);
      return reply.status(202).send({ id: proofId, status: 'queued' });
    },
  );

  app.get(
    '/v1/proofs/:id',
    { schema: { summary: 'A proof request: status, stage, timings, and the bundle when done', params: Type.Object({ id: Type.String() }), response: { 200: ProofSchema, ...errors } } },
    async (req) => {
      const rec = await findProof(ctx, req, ctx.auth(req, ['prover', 'verifier']));
      const { tenant: _t, ...pub } = rec;
      const bundle = rec.status === 'done' ? await ctx.proofs.getBundle(rec.id) : null;
      return { ...pub, ...(bundle ? { bundle } : {}) };
    },
  );

  app.get(
    '/v1/proofs/:id/receipt',
    {
      schema: {
        summary: "The applicant's receipt (salt and quantized features), for the prover to hand to the applicant; never shown to a verifier",
        params: Type.Object({ id: Type.String() }),
        response: { 200: Type.Object({}, { additionalProperties: true }), ...errors },
      },
    },
    async (req) => {
      const rec = await findProof(ctx, req, ctx.auth(req, ['prover']), { done: true });
      const receipt = await ctx.proofs.getReceipt(rec.id);
      if (!receipt) throw new HttpError(404, 'NOT_FOUND', 'this proof has a public input and no receipt', 'id');
      return receipt;
    },
  );

  app.get(
    '/v1/proofs',
    { schema: { summary: "List the caller's proofs, optionally for one model", querystring: Type.Object({ modelId: Type.Optional(Type.String()) }, { additionalProperties: false }), response: { 200: Type.Array(ProofSchema), ...errors } } },
    async (req) => {
      const caller = ctx.auth(req, ['prover', 'verifier']);
      const { modelId } = req.query as { modelId?: string };
      const list = await ctx.proofs.listFor({ tenant: caller.role === 'admin' ? undefined : caller.tenant, modelId });
      return list.map(({ tenant: _t, ...pub }) => pub);
    },
  );
}
