import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { compileContracts, type ContractSet, encodeCalls, solidityProof } from '../../chain/index.ts';
import { readBundle } from '../../store/proof-files.ts';
import { HttpError } from '../http-error.ts';
import { findModel, findProof, findVersion } from '../lookup.ts';
import { CalldataSchema, ContractsSchema, errorResponses, VersionQuery } from '../schemas.ts';

const Id = Type.Object({ id: Type.String() });
const errors = errorResponses(400, 401, 403, 404, 409, 429, 503);

/** Solidity verifier, registry and calldata: what a caller needs to verify and attest on chain. */
export async function chainRoutes(app: FastifyInstance): Promise<void> {
  const inflight = new Map<string, Promise<ContractSet>>();

  async function contractsOf(req: FastifyRequest): Promise<ContractSet> {
    const rec = await findModel(req, app.auth(req, ['prover', 'verifier']), { ready: true });
    const v = await findVersion(req, rec);
    // The worker compiles them when a version is made; this is a cache hit then.
    const key = `${v.vkeyHash}/${v.commitment}`;
    let p = inflight.get(key);
    if (!p) {
      p = compileContracts(v.descriptor, v.vkey).finally(() => inflight.delete(key));
      inflight.set(key, p);
    }
    return p;
  }

  app.get(
    '/v1/models/:id/verifier.sol',
    {
      schema: {
        summary: "The model's Groth16 verifier contract (Solidity source, snarkjs template)",
        params: Id,
        querystring: VersionQuery,
        response: { 200: { description: 'Solidity source', content: { 'text/plain': { schema: Type.String() } } }, ...errors },
      },
    },
    async (req, reply) => {
      const set = await contractsOf(req);
      return reply.type('text/plain; charset=utf-8').header('content-disposition', `inline; filename="${set.verifier.name}.sol"`).send(set.verifier.source);
    },
  );

  app.get(
    '/v1/models/:id/contracts',
    {
      schema: {
        summary: "The model's verifier and attestation registry: Solidity source, ABI and bytecode, with the compiler version and settings",
        params: Id,
        querystring: VersionQuery,
        response: { 200: ContractsSchema, ...errors },
      },
    },
    async (req) => contractsOf(req),
  );

  app.get(
    '/v1/proofs/:id/calldata',
    {
      schema: { summary: 'A finished proof as verifyProof / attest arguments and transaction data', params: Id, response: { 200: CalldataSchema, ...errors } },
    },
    async (req) => {
      const rec = await findProof(req, app.auth(req, ['prover', 'verifier']), { done: true });
      const bundle = await readBundle(rec.id);
      if (!bundle) throw new HttpError(404, 'NOT_FOUND', 'the proof bundle is missing', 'id');
      const args = solidityProof(bundle.proof, bundle.publicSignals);
      return { modelId: bundle.model.id, ...args, calldata: encodeCalls(args) };
    },
  );
}
