import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { VerificationKey } from 'snarkjs';
import { type ErrorCode, ZkinferError } from '../../errors.ts';
import { parseBundle } from '../../verifier/index.ts';
import { readJson } from '../../store/json-file.ts';
import { HttpError } from '../http-error.ts';
import { ErrorSchema, VerifyRequestSchema, VerifyResultSchema } from '../schemas.ts';
import type { AppContext } from '../app.ts';

export async function verifyRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  app.post(
    '/v1/verify',
    {
      schema: {
        summary: "Verify a proof bundle, or a proof with its public signals and model id, against the registered model's verification key (never a key sent in the request)",
        body: VerifyRequestSchema,
        response: { 200: VerifyResultSchema, 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 413: ErrorSchema, 415: ErrorSchema, 429: ErrorSchema, 503: ErrorSchema },
      },
    },
    async (req) => {
      ctx.auth(req, ['verifier', 'prover']);
      const body = req.body as { bundle?: unknown; modelId?: string; proof?: unknown; publicSignals?: unknown };
      const bundle = body.bundle !== undefined ? parseBundle(body.bundle) : null;
      const field = bundle ? 'bundle.model.id' : 'modelId';
      const model = await ctx.models.get(bundle ? bundle.model.id : body.modelId!);
      if (!model) throw new HttpError(404, 'NOT_FOUND', 'the model is not registered here', field);
      if (model.status !== 'ready' || !model.descriptor) throw new HttpError(409, 'MODEL_NOT_READY', `the model is ${model.status}`, field);
      const vkey = (await readJson(path.join(ctx.models.dir(model.id), 'vkey.json'))) as VerificationKey;
      const r = await ctx.verifier.run(
        bundle ? { kind: 'bundle', bundle, vkey, registered: model.descriptor } : { kind: 'parts', model: model.descriptor, proof: body.proof, publicSignals: body.publicSignals, vkey },
      );
      if (!r.ok) {
        if ('internal' in r) throw new Error(r.internal);
        throw new ZkinferError(r.code as ErrorCode, r.message, r.field);
      }
      ctx.metrics.verifications.inc({ result: r.valid ? 'valid' : 'invalid' });
      return {
        valid: r.valid,
        reason: r.reason,
        ...(r.field ? { field: r.field } : {}),
        modelId: model.id,
        vkeyHash: model.vkeyHash!,
        outputs: r.valid ? r.outputs : null,
        inputCommitment: r.valid ? (r.inputCommitment ?? null) : null,
        nonce: r.valid ? (r.nonce ?? null) : null,
        phase1: r.phase1!,
        setup: model.setup!,
      };
    },
  );
}
