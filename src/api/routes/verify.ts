import type { FastifyInstance } from 'fastify';
import { type ErrorCode, ZkinferError } from '../../errors.ts';
import { phase2Trust } from '../../ceremony/trust.ts';
import type { ModelVersion } from '../../store/records.ts';
import { parseBundle } from '../../verifier/index.ts';
import { HttpError } from '../http-error.ts';
import { ErrorSchema, VerifyRequestSchema, VerifyResultSchema } from '../schemas.ts';
import type { AppContext } from '../app.ts';
import type { VerifyTaskResult } from '../verify-child.ts';

type Verdict = Extract<VerifyTaskResult, { ok: true }>;

export async function verifyRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  /** Runs a check in a verification process; a request that cannot be checked is a 4xx. */
  async function run(task: Parameters<AppContext['verifier']['run']>[0]): Promise<Verdict> {
    const r = await ctx.verifier.run(task);
    if (!r.ok) {
      if ('internal' in r) throw new Error(r.internal);
      throw new ZkinferError(r.code as ErrorCode, r.message, r.field);
    }
    return r;
  }

  app.post(
    '/v1/verify',
    {
      bodyLimit: ctx.config.verifyBodyLimit,
      schema: {
        summary:
          "Verify a proof bundle, or a proof with its public signals and model id, against a registered key of the model (never a key sent in the request). A bundle is checked with the registered version whose key hash is the bundle's vkeyHash; parts with the given version, else each version whose commitment is publicSignals[0], newest first. Every version's key stays registered, so earlier proofs keep verifying.",
        body: VerifyRequestSchema,
        response: { 200: VerifyResultSchema, 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 413: ErrorSchema, 415: ErrorSchema, 429: ErrorSchema, 503: ErrorSchema },
      },
    },
    async (req) => {
      ctx.auth(req, ['verifier', 'prover']);
      const body = req.body as { bundle?: unknown; modelId?: string; proof?: unknown; publicSignals?: unknown; version?: number };
      let used: ModelVersion;
      let r: Verdict;
      if (body.bundle !== undefined) {
        const bundle = parseBundle(body.bundle);
        // The key is what matters, whichever tenant registered it.
        const [v] = await ctx.records.versionsByKey(bundle.model.id, bundle.vkeyHash);
        if (!v) {
          if ((await ctx.records.modelTenants(bundle.model.id)).length === 0) throw new HttpError(404, 'NOT_FOUND', 'the model is not registered here', 'bundle.model.id');
          throw new HttpError(409, 'UNKNOWN_KEY', `no registered version of this model has the key ${bundle.vkeyHash}`, 'bundle.vkeyHash');
        }
        used = v;
        r = await run({ kind: 'bundle', bundle, vkey: v.vkey, registered: v.descriptor });
      } else {
        const modelId = body.modelId!;
        const signals = Array.isArray(body.publicSignals) ? (body.publicSignals as unknown[]) : [];
        const byVersion = body.version !== undefined;
        let candidates = await ctx.records.versionsFor(modelId, byVersion ? { version: body.version } : { commitment: typeof signals[0] === 'string' ? signals[0] : '' });
        if (candidates.length === 0) {
          if ((await ctx.records.modelTenants(modelId)).length === 0) throw new HttpError(404, 'NOT_FOUND', 'the model is not registered here', 'modelId');
          if (byVersion) throw new HttpError(404, 'NOT_FOUND', `the model has no version ${body.version}`, 'version');
          // No key of this model commits to publicSignals[0]: the latest one says why it fails.
          candidates = await ctx.records.versionsFor(modelId, {}, 1);
          if (candidates.length === 0) throw new HttpError(409, 'MODEL_NOT_READY', 'the model has no key yet', 'modelId');
        }
        used = candidates[0];
        r = await run({ kind: 'parts', model: used.descriptor, proof: body.proof, publicSignals: body.publicSignals, vkey: used.vkey });
        for (const v of candidates.slice(1)) {
          if (r.valid) break;
          const next = await run({ kind: 'parts', model: v.descriptor, proof: body.proof, publicSignals: body.publicSignals, vkey: v.vkey });
          if (next.valid) {
            used = v;
            r = next;
          }
        }
      }
      ctx.metrics.verifications.inc({ result: r.valid ? 'valid' : 'invalid' });
      return {
        valid: r.valid,
        reason: r.reason,
        ...(r.field ? { field: r.field } : {}),
        modelId: used.modelId,
        vkeyHash: used.vkeyHash,
        version: used.version,
        outputs: r.valid ? (r.outputs as Record<string, unknown> | null) : null,
        inputCommitment: r.valid ? (r.inputCommitment ?? null) : null,
        nonce: r.valid ? (r.nonce ?? null) : null,
        phase1: r.phase1!,
        // The contribution list, and who the key depends on (the service alone, or a ceremony).
        setup: { ...used.setup, trust: phase2Trust(used.setup) } as unknown as Record<string, unknown>,
      };
    },
  );
}
