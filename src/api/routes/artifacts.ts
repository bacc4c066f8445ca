import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { ptauFileFor } from '../../service/phase1.ts';
import { ceremonyKeyFile } from '../../store/ceremonies.ts';
import { artifactDir } from '../../core/artifacts.ts';
import { artifactStore } from '../../core/artifact-store.ts';
import { hashFile } from '../../core/hash.ts';
import { isZkinferError } from '../../core/errors.ts';
import type { ModelRecord } from '../../store/models.ts';
import type { ModelVersion } from '../../store/versions.ts';
import { uploadFile } from '../../store/uploads.ts';
import { HttpError } from '../http-error.ts';
import { findModel, findVersion } from '../lookup.ts';
import { errorResponses, VersionQuery } from '../schemas.ts';

type Kind = 'r1cs' | 'zkey' | 'circuit' | 'ptau' | 'model';

/** Where a version's file lives and the sha256 its records pinned for it. */
async function located(
  v: ModelVersion,
  kind: Kind,
  configuredPtau: string | null,
): Promise<{ file: string; sha256: string; type: string; name: string } | null> {
  const circuitDir = artifactDir('circuit', v.circuitHash);
  switch (kind) {
    case 'r1cs':
      return {
        file: path.join(circuitDir, 'main.r1cs'),
        sha256: v.setup.r1csSha256,
        type: 'application/octet-stream',
        name: `${v.modelId}-v${v.version}.r1cs`,
      };
    case 'zkey':
      return {
        // A ceremony's final key is kept by its sha256 beside the circuit; the service's own setup in setup-<ptau>/.
        file: v.setup.ceremony
          ? ceremonyKeyFile(v.circuitHash, v.setup.ptau.sha256, v.setup.zkeySha256)
          : path.join(circuitDir, `setup-${v.setup.ptau.sha256.slice(0, 16)}`, 'circuit.zkey'),
        sha256: v.setup.zkeySha256,
        type: 'application/octet-stream',
        name: `${v.modelId}-v${v.version}.zkey`,
      };
    case 'circuit':
      return {
        file: path.join(circuitDir, 'main.circom'),
        sha256: v.circuitSourceSha256,
        type: 'text/plain; charset=utf-8',
        name: `${v.modelId}-v${v.version}.circom`,
      };
    case 'ptau': {
      // A development file, or the configured ZKINFER_PTAU when its bytes are the recorded ones.
      const p = v.setup.ptau;
      const file = await ptauFileFor(p, configuredPtau);
      return file ? { file, sha256: p.sha256, type: 'application/octet-stream', name: `${p.name}.ptau` } : null;
    }
    case 'model':
      return null;
    default:
      return kind satisfies never;
  }
}

/** The uploaded model files, served as stored: an audit recomputes the model id from them (the id covers their bytes). */
async function sendUpload(reply: import('fastify').FastifyReply, rec: ModelRecord, name: string, version: number | null) {
  const file = uploadFile(rec.id, name);
  await fetchChecked(file, 'name');
  let actual: string;
  try {
    actual = await sha256Of(file);
  } catch {
    throw new HttpError(404, 'ARTIFACT_MISSING', `the model file "${name}" is no longer stored`, 'name');
  }
  reply.type('application/octet-stream').header('x-zkinfer-sha256', actual).header('content-disposition', `attachment; filename="${name}"`);
  if (version !== null) reply.header('x-zkinfer-model-version', String(version));
  return reply.send(createReadStream(file));
}

/** A shared store's copy into this node's folder: stored bytes that do not match their sha256 are a 409, never served. */
async function fetchChecked(file: string, field: string): Promise<void> {
  try {
    await artifactStore().fetch(file);
  } catch (e) {
    if (isZkinferError(e, 'ARTIFACT_CORRUPT')) throw new HttpError(409, 'ARTIFACT_CORRUPT', e.message, field);
    throw e;
  }
}

/** A private model's files are never served: its parameters are in them. An auditor receives them from the owner in confidence. */
function refusePrivate(rec: ModelRecord): void {
  if (rec.blinding)
    throw new HttpError(
      403,
      'PRIVATE_MODEL',
      'this model is private: its file is not served (an auditor receives it from the owner, with its blinding, in confidence)',
      'kind',
    );
}

/** Hashes a file once per (path, size, mtime): a changed file is hashed again. */
const verified = new Map<string, string>();
async function sha256Of(file: string): Promise<string> {
  const s = await stat(file);
  const key = `${file}:${s.size}:${s.mtimeMs}`;
  const known = verified.get(key);
  if (known) return known;
  const hex = await hashFile(file);
  verified.set(key, hex);
  return hex;
}

/**
 * A model version's setup material for an auditor: the r1cs, the final zkey, the generated
 * circuit source and the powers of tau it was set up with. Each file is hash-checked
 * against what the version recorded before it is served.
 */
export async function artifactRoutes(app: FastifyInstance): Promise<void> {
  app.get(
    '/v1/models/:id/artifacts/:kind',
    {
      schema: {
        summary:
          "A version's r1cs, final zkey, generated main.circom or powers-of-tau file (default: the latest ready version), " +
          'checked against the sha256 the version recorded (header x-zkinfer-sha256); or the uploaded ONNX file (model: its ' +
          'id is the hash of its bytes, settings, input quantization and labels, which an audit recomputes; external data ' +
          'files under /artifacts/external/{name}). 404 ARTIFACT_MISSING when the file is gone, 409 ARTIFACT_CORRUPT when it ' +
          'no longer matches.',
        params: Type.Object({
          id: Type.String(),
          kind: Type.Union([Type.Literal('r1cs'), Type.Literal('zkey'), Type.Literal('circuit'), Type.Literal('ptau'), Type.Literal('model')]),
        }),
        querystring: VersionQuery,
        response: {
          200: { description: 'the file', content: { 'application/octet-stream': { schema: Type.String({ format: 'binary' }) } } },
          ...errorResponses(400, 401, 403, 404, 409, 429),
        },
      },
    },
    async (req, reply) => {
      const rec = await findModel(req, app.auth(req, ['prover', 'verifier']));
      const kind = (req.params as { kind: Kind }).kind;
      if (kind === 'model') refusePrivate(rec);
      // The uploaded ONNX is the same for every version (and there before any): a version asked for must still exist.
      if (kind === 'model')
        return sendUpload(reply, rec, rec.fileName, (req.query as { version?: string }).version !== undefined ? (await findVersion(req, rec)).version : null);
      const v = await findVersion(req, rec);
      const where = await located(v, kind, app.config.ptau);
      if (!where)
        throw new HttpError(
          404,
          'ARTIFACT_MISSING',
          `the ${kind} of version ${v.version} is not kept by this service (an operator's file it is no longer configured with)`,
          'kind',
        );
      // A shared store: fetched into this node's folder (checked by hash) first; the ptau is each node's own.
      if (kind !== 'ptau') await fetchChecked(where.file, kind);
      let actual: string;
      try {
        actual = await sha256Of(where.file);
      } catch {
        throw new HttpError(404, 'ARTIFACT_MISSING', `the ${kind} of version ${v.version} is no longer stored`, 'kind');
      }
      if (actual !== where.sha256)
        throw new HttpError(
          409,
          'ARTIFACT_CORRUPT',
          `the stored ${kind} of version ${v.version} hashes to ${actual}, not the recorded ${where.sha256}`,
          'kind',
        );
      reply
        .type(where.type)
        .header('x-zkinfer-sha256', actual)
        .header('x-zkinfer-model-version', String(v.version))
        .header('content-disposition', `attachment; filename="${where.name}"`);
      return reply.send(createReadStream(where.file));
    },
  );

  app.get(
    '/v1/models/:id/artifacts/external/:name',
    {
      schema: {
        summary:
          "One of the model's uploaded external data files (the record's externalFiles), as stored (header " +
          'x-zkinfer-sha256): put it beside the ONNX file to compile or audit the model.',
        params: Type.Object({ id: Type.String(), name: Type.String() }),
        querystring: VersionQuery,
        response: {
          200: { description: 'the file', content: { 'application/octet-stream': { schema: Type.String({ format: 'binary' }) } } },
          ...errorResponses(400, 401, 403, 404, 409, 429),
        },
      },
    },
    async (req, reply) => {
      const rec = await findModel(req, app.auth(req, ['prover', 'verifier']));
      const name = (req.params as { name: string }).name;
      refusePrivate(rec);
      if (!rec.externalFiles.includes(name)) throw new HttpError(404, 'NOT_FOUND', 'the model has no external data file of that name', 'name');
      return sendUpload(reply, rec, name, null);
    },
  );
}
