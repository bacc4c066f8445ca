import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { VerificationKey } from 'snarkjs';
import { compileContracts, type ContractSet, encodeCalls, solidityProof } from '../../chain/index.ts';
import { readJson } from '../../store/json-file.ts';
import { HttpError } from '../http-error.ts';
import { findModel, findProof } from '../lookup.ts';
import { CalldataSchema, ContractsSchema, ErrorSchema } from '../schemas.ts';
import type { AppContext } from '../app.ts';

const Id = Type.Object({ id: Type.String() });
const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 429: ErrorSchema, 503: ErrorSchema };

/** Solidity verifier, registry and calldata: what a caller needs to verify and attest on chain. */
export async function chainRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const inflight = new Map<string, Promise<ContractSet>>();

  async function contractsOf(req: Parameters<AppContext['auth']>[0]): Promise<ContractSet> {
    const rec = await findModel(ctx, req, ctx.auth(req, ['prover', 'verifier']), { ready: true });
    if (!rec.commitment || !rec.inputs || rec.outputSize === undefined || rec.decisionSize === undefined) {
      throw new HttpError(409, 'MODEL_NOT_READY', 'this model record comes from an older zkinfer and lacks its circuit description: upload the model again to refresh it', 'id');
    }
    const model = { id: rec.id, commitment: rec.commitment, inputs: rec.inputs, outputSize: rec.outputSize, decisionSize: rec.decisionSize, publicInput: rec.publicInput === true, settings: rec.settings };
    // The worker compiles them when the model becomes ready; this is a cache hit then, and
    // compiles (about 0.5 s) only for a model made ready by an older zkinfer.
    let p = inflight.get(rec.id);
    if (!p) {
      p = (async () => {
        const vkey = await readJson<VerificationKey>(path.join(ctx.models.dir(rec.id), 'vkey.json'));
        if (!vkey) throw new HttpError(409, 'MODEL_NOT_READY', 'the model has no verification key yet', 'id');
        return compileContracts(model, vkey);
      })().finally(() => inflight.delete(rec.id));
      inflight.set(rec.id, p);
    }
    return p;
  }

  app.get(
    '/v1/models/:id/verifier.sol',
    { schema: { summary: "The model's Groth16 verifier contract (Solidity source, snarkjs template)", params: Id, response: { 200: { description: 'Solidity source', content: { 'text/plain': { schema: Type.String() } } }, ...errors } } },
    async (req, reply) => {
      const set = await contractsOf(req);
      return reply.type('text/plain; charset=utf-8').header('content-disposition', `inline; filename="${set.verifier.name}.sol"`).send(set.verifier.source);
    },
  );

  app.get(
    '/v1/models/:id/contracts',
    { schema: { summary: "The model's verifier and attestation registry: Solidity source, ABI and bytecode, with the compiler version and settings", params: Id, response: { 200: ContractsSchema, ...errors } } },
    async (req) => contractsOf(req),
  );

  app.get(
    '/v1/proofs/:id/calldata',
    { schema: { summary: "A finished proof as verifyProof / attest arguments and transaction data", params: Id, response: { 200: CalldataSchema, ...errors } } },
    async (req) => {
      const rec = await findProof(ctx, req, ctx.auth(req, ['prover', 'verifier']), { done: true });
      const bundle = await ctx.proofs.getBundle(rec.id);
      if (!bundle) throw new HttpError(404, 'NOT_FOUND', 'the proof bundle is missing', 'id');
      const args = solidityProof(bundle.proof, bundle.publicSignals);
      return { modelId: bundle.model.id, ...args, calldata: encodeCalls(args) };
    },
  );
}
