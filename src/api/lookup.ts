import type { FastifyRequest } from 'fastify';
import type { ModelRecord } from '../store/models.ts';
import type { ProofRecord } from '../store/proofs.ts';
import type { ModelVersion } from '../store/versions.ts';
import type { Caller } from './auth.ts';
import { HttpError } from './http-error.ts';

/**
 * The model named by the route's `:id`, as this caller may see it. Records are per tenant:
 * a prover sees its own tenant's only (another tenant's is a 404, not a 403); a verifier or
 * admin sees every tenant's, picks one with `?tenant=` when several registered the same
 * model, and otherwise gets its own tenant's, or the only one. With `ready`, a model still
 * compiling (or failed) is a 409.
 */
export async function findModel(req: FastifyRequest, caller: Caller, opts: { ready?: boolean } = {}): Promise<ModelRecord> {
  const id = (req.params as { id: string }).id;
  const wanted = (req.query as { tenant?: string } | undefined)?.tenant;
  const notFound = () => new HttpError(404, 'NOT_FOUND', 'no such model', 'id');
  if (!/^[0-9a-f]{64}$/.test(id)) throw notFound();
  let tenant: string;
  if (caller.role === 'prover') {
    if (wanted !== undefined && wanted !== caller.tenant) throw notFound();
    tenant = caller.tenant;
  } else if (wanted !== undefined) {
    tenant = wanted;
  } else {
    const tenants = await req.server.stores.models.tenants(id);
    if (tenants.length === 0) throw notFound();
    if (tenants.includes(caller.tenant)) tenant = caller.tenant;
    else if (tenants.length === 1) tenant = tenants[0];
    else throw new HttpError(409, 'AMBIGUOUS_TENANT', `${tenants.length} tenants registered this model: name one with ?tenant=`, 'tenant');
  }
  const rec = await req.server.stores.models.get(tenant, id);
  if (!rec) throw notFound();
  if (opts.ready && rec.status !== 'ready')
    throw new HttpError(409, 'MODEL_NOT_READY', `the model is ${rec.status}${rec.reason ? `: ${rec.reason}` : ''}`, 'id');
  return rec;
}

/** A version of a model (`?version=N`, else the latest ready one): 404 naming `version` when there is none. */
export async function findVersion(req: FastifyRequest, model: ModelRecord): Promise<ModelVersion> {
  const raw = (req.query as { version?: string } | undefined)?.version;
  const v = await req.server.stores.versions.get(model.tenant, model.id, raw === undefined ? undefined : Number(raw));
  if (!v) {
    if (raw === undefined) throw new HttpError(409, 'MODEL_NOT_READY', `the model is ${model.status} and has no key yet`, 'id');
    throw new HttpError(404, 'NOT_FOUND', `the model has no version ${raw}`, 'version');
  }
  return v;
}

/**
 * The proof named by the route's `:id`, as this caller may see it: its own tenant's only,
 * unless admin. With `done`, a proof still queued or proving (or failed) is a 409.
 */
export async function findProof(req: FastifyRequest, caller: Caller, opts: { done?: boolean } = {}): Promise<ProofRecord> {
  const rec = await req.server.stores.proofs.get((req.params as { id: string }).id);
  // Another tenant's proof does not exist, as far as this caller can tell.
  if (!rec || (caller.role !== 'admin' && rec.tenant !== caller.tenant)) throw new HttpError(404, 'NOT_FOUND', 'no such proof', 'id');
  if (opts.done && rec.status !== 'done') throw new HttpError(409, 'PROOF_NOT_DONE', `the proof is ${rec.status}`, 'id');
  return rec;
}
