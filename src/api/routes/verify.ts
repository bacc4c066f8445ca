import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { parseBundle, verifyBundle } from '../../verifier/index.ts';
import { readJson } from '../../store/json-file.ts';
import { HttpError } from '../http-error.ts';
import { ErrorSchema, VerifyRequestSchema, VerifyResultSchema } from '../schemas.ts';
import type { AppContext } from '../app.ts';

export async function verifyRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  app.post(
    '/v1/verify',
    {
      schema: {
        summary: "Verify a proof bundle against the registered model's verification key (never a key sent in the request)",
        body: VerifyRequestSchema,
        response: { 200: VerifyResultSchema, 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 413: ErrorSchema, 415: ErrorSchema, 429: ErrorSchema },
      },
    },
    async (req) => {
      ctx.auth(req, ['verifier', 'prover']);
      const bundle = parseBundle((req.body as { bundle: unknown }).bundle);
      const model = await ctx.models.get(bundle.model.id);
      if (!model) throw new HttpError(404, 'NOT_FOUND', 'the bundle names a model that is not registered here', 'bundle.model.id');
      if (model.status !== 'ready') throw new HttpError(409, 'MODEL_NOT_READY', `the model is ${model.status}`, 'bundle.model.id');
      const vkey = await readJson(path.join(ctx.models.dir(model.id), 'vkey.json'));
      const r = await verifyBundle(bundle, { vkey });
      ctx.metrics.verifications.inc({ result: r.valid ? 'valid' : 'invalid' });
      return { valid: r.valid, reason: r.reason, modelId: r.modelId, vkeyHash: r.vkeyHash, outputs: r.outputs, setup: r.setup };
    },
  );
}
