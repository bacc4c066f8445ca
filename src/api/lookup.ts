import type { FastifyRequest } from 'fastify';
import type { Caller } from './auth.ts';
import type { ModelRecord } from '../store/model-store.ts';
import type { ProofRecord } from '../store/proof-store.ts';
import type { AppContext } from './app.ts';
import { HttpError } from './http-error.ts';

/**
 * The model named by the route's `:id`, as this caller may see it: a prover sees its own
 * tenant's models only (another tenant's is a 404, not a 403); a verifier or admin, all.
 * With `ready`, a model still compiling (or failed) is a 409.
 */
export async function findModel(ctx: AppContext, req: FastifyRequest, caller: Caller, opts: { ready?: boolean } = {}): Promise<ModelRecord> {
  const rec = await ctx.models.get((req.params as { id: string }).id);
  if (!rec || (caller.role === 'prover' && rec.tenant !== caller.tenant)) throw new HttpError(404, 'NOT_FOUND', 'no such model', 'id');
  if (opts.ready && rec.status !== 'ready') throw new HttpError(409, 'MODEL_NOT_READY', `the model is ${rec.status}${rec.reason ? `: ${rec.reason}` : ''}`, 'id');
  return rec;
}

/**
 * The proof named by the route's `:id`, as this caller may see it: its own tenant's only,
 * unless admin. With `done`, a proof still queued or proving (or failed) is a 409.
 */
export async function findProof(ctx: AppContext, req: FastifyRequest, caller: Caller, opts: { done?: boolean } = {}): Promise<ProofRecord> {
  const rec = await ctx.proofs.get((req.params as { id: string }).id);
  // Another tenant's proof does not exist, as far as this caller can tell.
  if (!rec || (caller.role !== 'admin' && rec.tenant !== caller.tenant)) throw new HttpError(404, 'NOT_FOUND', 'no such proof', 'id');
  if (opts.done && rec.status !== 'done') throw new HttpError(409, 'PROOF_NOT_DONE', `the proof is ${rec.status}`, 'id');
  return rec;
}
