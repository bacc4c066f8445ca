import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { loadModel } from '../../model/index.ts';
import { modelIdOf } from '../../pipeline/index.ts';
import { DEFAULT_SETTINGS, validateSettings } from '../../quant/index.ts';
import { readJson } from '../../store/json-file.ts';
import { HttpError } from '../http-error.ts';
import { findModel } from '../lookup.ts';
import { Accepted, ErrorSchema, ModelSchema } from '../schemas.ts';
import type { AppContext } from '../app.ts';

const ModelId = Type.Object({ id: Type.String() });
const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 413: ErrorSchema, 415: ErrorSchema, 422: ErrorSchema, 429: ErrorSchema, 503: ErrorSchema };
const SAFE_NAME = /^[A-Za-z0-9._-]{1,200}$/;

/** Public part of a model record (the tenant is not shown). */
function publicModel<T extends { tenant?: string; externalFiles?: string[] }>(rec: T) {
  const { tenant: _t, externalFiles: _e, ...rest } = rec;
  return rest;
}

export async function modelRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  app.post(
    '/v1/models',
    {
      schema: {
        summary: 'Register a model: multipart upload of the ONNX file (field "model"), its external data files (field "external", named as the model references them) and optional fields "scale", "bits" and "publicInput" ("true" puts the quantized input in the public signals instead of a commitment). Compile and setup run as a queued job.',
        consumes: ['multipart/form-data'],
        response: { 202: Accepted, ...errors, 409: ErrorSchema },
      },
    },
    async (req, reply) => {
      const caller = ctx.auth(req, ['prover']);
      if (!req.isMultipart()) throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'upload the model as multipart/form-data', 'content-type');
      let model: { name: string; bytes: Buffer } | undefined;
      const external: { name: string; bytes: Buffer }[] = [];
      const fields: Record<string, string> = {};
      for await (const part of req.parts()) {
        if (part.type === 'file') {
          const bytes = await part.toBuffer();
          const name = part.filename || part.fieldname;
          if (!SAFE_NAME.test(name)) throw new HttpError(400, 'VALIDATION', `file name "${name}" is not allowed`, part.fieldname);
          if (part.fieldname === 'model') model = { name, bytes };
          else if (part.fieldname === 'external') external.push({ name, bytes });
          else throw new HttpError(400, 'VALIDATION', `unknown file field "${part.fieldname}"`, part.fieldname);
        } else {
          if (!['scale', 'bits', 'publicInput'].includes(part.fieldname)) throw new HttpError(400, 'VALIDATION', `unknown field "${part.fieldname}"`, part.fieldname);
          fields[part.fieldname] = String(part.value);
        }
      }
      if (!model) throw new HttpError(400, 'VALIDATION', 'the "model" file field is required', 'model');
      const int = (name: string, dflt: number) => {
        if (fields[name] === undefined) return dflt;
        if (!/^\d{1,3}$/.test(fields[name])) throw new HttpError(400, 'VALIDATION', `${name} must be a whole number`, name);
        return Number(fields[name]);
      };
      const settings = validateSettings({ scaleBits: int('scale', DEFAULT_SETTINGS.scaleBits), bits: int('bits', DEFAULT_SETTINGS.bits) });
      if (fields.publicInput !== undefined && !['true', 'false'].includes(fields.publicInput)) throw new HttpError(400, 'VALIDATION', 'publicInput must be true or false', 'publicInput');
      const publicInput = fields.publicInput === 'true';

      // Import once now, so a bad model is a 4xx at upload rather than a failed job later.
      const tmp = await mkdtemp(path.join(tmpdir(), 'zkinfer-upload-'));
      let loaded;
      try {
        for (const f of [model, ...external]) await writeFile(path.join(tmp, f.name), f.bytes);
        loaded = await loadModel(path.join(tmp, model.name));
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
      const id = modelIdOf(loaded.bytes, loaded.externalBytes, settings, publicInput);
      const existing = await ctx.models.get(id);
      if (existing && existing.tenant !== caller.tenant && caller.role !== 'admin') {
        throw new HttpError(409, 'CONFLICT', 'this model is registered by another tenant', 'model');
      }
      if (!existing) {
        await ctx.models.saveFiles(id, [model, ...external]);
        const now = new Date().toISOString();
        await ctx.models.put({ id, tenant: caller.tenant, status: 'queued', fileName: model.name, externalFiles: external.map((e) => e.name), settings, publicInput, createdAt: now, updatedAt: now });
      }
      if (!existing || existing.status === 'failed' || existing.status === 'queued' || !existing.commitment) await ctx.queue.enqueueCompile(id);
      const rec = await ctx.models.get(id);
      return reply.status(202).send({ id, status: rec!.status });
    },
  );

  app.get('/v1/models', { schema: { summary: 'List models (a prover sees its own; a verifier or admin sees all)', response: { 200: Type.Array(ModelSchema), ...errors } } }, async (req) => {
    const caller = ctx.auth(req, ['prover', 'verifier']);
    const list = await ctx.models.listFor(caller.role === 'prover' ? caller.tenant : undefined);
    return list.map(publicModel);
  });

  app.get('/v1/models/:id', { schema: { summary: 'A model: status, layer table, constraints, fidelity, vkey hash, setup provenance', params: ModelId, response: { 200: ModelSchema, ...errors } } }, async (req) => {
    return publicModel(await findModel(ctx, req, ctx.auth(req, ['prover', 'verifier'])));
  });

  app.get(
    '/v1/models/:id/vkey',
    { schema: { summary: "The model's Groth16 verification key (snarkjs JSON)", params: ModelId, response: { 200: Type.Object({}, { additionalProperties: true }), ...errors, 409: ErrorSchema } } },
    async (req) => {
      const rec = await findModel(ctx, req, ctx.auth(req, ['prover', 'verifier']), { ready: true });
      return readJson(path.join(ctx.models.dir(rec.id), 'vkey.json'));
    },
  );
}
