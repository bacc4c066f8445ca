import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { randomUUID } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { MODEL_LIMIT_ENV, type ModelIR, parseInput, readInputRows } from '../../model/index.ts';
import { loadModelIsolated } from '../../pipeline/load-isolated.ts';
import { checkBlinding, checkLabels, inputQuantOf, modelIdOf } from '../../pipeline/index.ts';
import { randomSalt } from '../../prover/commitment.ts';
import { checkPrivateLayers } from '../../quant/quantize.ts';
import type { InputQuant } from '../../fixed/input-quant.ts';
import { artifactDir } from '../../core/artifacts.ts';
import {
  resolveSettings,
  type ExplainSettings,
  explainSettingsOf,
  explainSpecOf,
  protectedFrom,
  type QuantSettings,
  validateSettings,
} from '../../quant/index.ts';
import { isZkinferError } from '../../core/errors.ts';
import { phase2Trust } from '../../ceremony/trust.ts';
import type { CeremonyRow } from '../../store/ceremonies.ts';
import type { ModelRecord, SetupMode } from '../../store/models.ts';
import type { ModelVersion } from '../../store/versions.ts';
import { discardUpload, publishUpload, stageUpload } from '../../store/uploads.ts';
import { HttpError } from '../http-error.ts';
import { findModel, findVersion } from '../lookup.ts';
import { Accepted, errorResponses, ModelListQuery, ModelPageSchema, ModelSchema, TenantQuery, VkeyQuery } from '../schemas.ts';
import { recordedPhase1, type ServicePhase1 } from '../../service/phase1.ts';
import { ceremonyView } from './ceremony-view.ts';

const ModelId = Type.Object({ id: Type.String() });
const errors = errorResponses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503);
const SAFE_NAME = /^[A-Za-z0-9._-]{1,200}$/;

/** Public view of a model record: the tenant is not shown; the latest key version's description is. */
export function publicModel(rec: ModelRecord, versions: ModelVersion[], ceremony: CeremonyRow | null | undefined, service: ServicePhase1) {
  const latest = versions.filter((v) => v.status === 'ready').at(-1);
  // Which phase 1 the key was set up on: the latest key's, else the open ceremony's, else
  // what the service is configured to use. The service's own record, labelled as such.
  const phase1 = latest
    ? { ...recordedPhase1(latest.setup.ptau, latest.setup.insecure), from: 'key version' as const }
    : ceremony
      ? { ...recordedPhase1(ceremony.ptau, ceremony.pending.insecure), from: 'ceremony' as const }
      : service.sha256 !== null
        ? {
            kind: service.kind,
            name: service.name,
            power: service.power,
            sha256: service.sha256,
            insecure: service.insecure,
            checkedBy: 'service' as const,
            from: 'service setting' as const,
          }
        : null;
  return {
    id: rec.id,
    status: rec.status,
    ...(rec.status === 'compiling' && rec.progress?.length ? { stage: rec.progress.at(-1)!.stage } : {}),
    ...(rec.progress?.length ? { progress: rec.progress } : {}),
    ...(rec.reason ? { reason: rec.reason } : {}),
    fileName: rec.fileName,
    ...(rec.externalFiles.length ? { externalFiles: rec.externalFiles } : {}),
    settings: rec.settings,
    publicInput: rec.publicInput,
    // A private model: its file and parameters are not served (the blinding never is).
    visibility: rec.blinding ? ('private' as const) : ('public' as const),
    setupMode: rec.setup,
    // Fixed at upload: known before any compile.
    ...(rec.labels ? { labels: rec.labels } : {}),
    ...(rec.inputQuant ? { inputQuant: rec.inputQuant } : {}),
    ...(rec.explain ? { explain: rec.explain } : {}),
    ...(ceremony ? { ceremony: ceremonyView(ceremony) } : {}),
    createdAt: rec.createdAt,
    updatedAt: rec.updatedAt,
    ...(latest
      ? {
          version: latest.version,
          ...latest.summary,
          commitment: latest.commitment,
          layers: latest.layers,
          constraints: latest.constraints,
          fidelity: latest.fidelity,
          vkeyHash: latest.vkeyHash,
          setup: { ...latest.setup, trust: phase2Trust(latest.setup, rec.tenant) } as unknown as Record<string, unknown>,
          // The whole descriptor, as every bundle of this version holds it: `zkinfer audit --descriptor` replays it.
          descriptor: latest.descriptor,
        }
      : {}),
    ...(phase1 ? { phase1 } : {}),
    versions: versions.map((v) => ({
      version: v.version,
      status: v.status,
      vkeyHash: v.vkeyHash,
      circuitHash: v.circuitHash,
      commitment: v.commitment,
      createdAt: v.createdAt,
      descriptor: v.descriptor,
    })),
  };
}

/** `inputRange` fields, each `name=lo:hi` (one per graph input). */
function parseRanges(raw: string[]): Record<string, [number, number]> | undefined {
  if (raw.length === 0) return undefined;
  const out: Record<string, [number, number]> = {};
  for (const r of raw) {
    const m = /^([^=]{1,200})=([^:]+):(.+)$/.exec(r);
    const lo = m ? Number(m[2]) : NaN;
    const hi = m ? Number(m[3]) : NaN;
    if (!m || !Number.isFinite(lo) || !Number.isFinite(hi) || !(lo < hi))
      throw new HttpError(400, 'VALIDATION', 'each inputRange must be name=lo:hi with finite numbers, lo < hi', 'inputRange');
    if (out[m[1]]) throw new HttpError(400, 'VALIDATION', `inputRange names "${m[1].slice(0, 64)}" twice`, 'inputRange');
    out[m[1]] = [lo, hi];
  }
  return out;
}

/** Calibration rows a compile's fidelity report runs on, kept with the record until then (the rest only set the ranges). */
export const MAX_KEPT_CALIBRATION_ROWS = 1000;

/**
 * Calibration rows (CSV with a header, or JSON rows) read against the model's inputs, a
 * label column dropped; the file is deleted at once.
 */
async function calibrationRows(bytes: Buffer, ir: ModelIR, labelColumn: string | undefined): Promise<Float64Array[]> {
  const file = artifactDir('tmp', `calibration-${randomUUID()}`);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, bytes, { mode: 0o600 });
  try {
    const { rows } = await readInputRows(file, ir, { labelColumn, labelHint: 'the "labelColumn" field' });
    if (rows.length === 0) throw new HttpError(400, 'VALIDATION', 'the calibration file has no rows', 'calibration');
    return rows;
  } catch (e) {
    // Errors name the row and column; the file's own name (a temp path) is no one's business.
    if (e instanceof Error) e.message = e.message.replaceAll(file, 'the calibration file');
    throw e;
  } finally {
    await rm(file, { force: true });
  }
}

/** The upload's `reasons`, `baseline` and `protected` fields, checked before the model is read. */
function explainFields(fields: Record<string, string>, protectedSpecs: string[]) {
  if (fields.reasons !== undefined && !/^\d{1,2}$/.test(fields.reasons)) throw new HttpError(400, 'VALIDATION', 'reasons must be a whole number', 'reasons');
  const reasons = fields.reasons === undefined ? 0 : Number(fields.reasons);
  if (fields.baseline !== undefined && reasons === 0) throw new HttpError(400, 'VALIDATION', 'baseline goes with reasons (at least 1)', 'baseline');
  let baseline: unknown;
  if (fields.baseline !== undefined) {
    try {
      baseline = JSON.parse(fields.baseline);
    } catch {
      throw new HttpError(400, 'VALIDATION', 'baseline must be JSON, written as an input is (an object by feature name, or an array)', 'baseline');
    }
  }
  let prot: ReturnType<typeof protectedFrom>;
  try {
    prot = protectedFrom(protectedSpecs);
  } catch (e) {
    throw new HttpError(400, 'VALIDATION', (e as Error).message, 'protected');
  }
  return { reasons, baseline, protected: prot };
}

/**
 * The descriptor's `explain` for this upload (its default baseline the mean of all the
 * calibration rows), checked as the compile will quantize it: any problem is a 400 naming
 * reasons, baseline or protected.
 */
function resolveExplain(
  asked: ReturnType<typeof explainFields>,
  ir: ModelIR,
  settings: QuantSettings,
  inputQuant: InputQuant | null,
  rows: Float64Array[] | undefined,
): ExplainSettings | null {
  try {
    let baseline: Float64Array | undefined;
    try {
      baseline = asked.baseline === undefined ? undefined : parseInput(asked.baseline, ir);
    } catch (e) {
      throw new HttpError(400, 'VALIDATION', `baseline: ${(e as Error).message}`, 'baseline');
    }
    const explain = explainSettingsOf({ reasons: asked.reasons, ...(baseline ? { baseline } : {}), protected: asked.protected }, ir, rows);
    if (explain) explainSpecOf(explain, { settings, inputQuant, inputs: ir.inputs, inputSize: ir.inputSize });
    return explain;
  } catch (e) {
    if (isZkinferError(e))
      throw new HttpError(400, 'VALIDATION', e.message, e.field && ['reasons', 'baseline', 'protected'].includes(e.field) ? e.field : 'reasons');
    throw e;
  }
}

export const pageLimit = (raw: string | undefined): number => {
  const n = raw === undefined ? 50 : Number(raw);
  if (n > 200) throw new HttpError(400, 'VALIDATION', 'limit must be at most 200', 'querystring.limit');
  return n;
};

export async function modelRoutes(app: FastifyInstance): Promise<void> {
  app.post(
    '/v1/models',
    {
      schema: {
        summary:
          'Register a model for your tenant: multipart upload of the ONNX file (field "model"), its external data files ' +
          '(field "external", named as the model references them; one part per file name) and optional fields "scale", ' +
          '"bits" (default 32, or scale + 22 when only "scale" is given), "publicInput" ("true" puts the quantized input in the public ' +
          'signals instead of a commitment), "labels" ' +
          '(comma-separated decision names), "inputRange" (repeatable, name=lo:hi), a file "calibration" (CSV with a header: ' +
          "name, or name[0], name[1], ... for a vector input; or JSON rows: it sets each feature's scale and width, and its first " +
          `${MAX_KEPT_CALIBRATION_ROWS} rows are kept with the tenant's record, never served, only until the compile has run ` +
          'its fidelity report on them), "labelColumn" ' +
          '(a column of the calibration file, or key of its JSON rows, that is not an input, e.g. the label of a test set: ' +
          'dropped), "reasons" (k: prove the k principal reasons of each decision), "baseline" (JSON written as an input is, ' +
          'the point reasons compare each feature with; default: the calibration rows\' mean), "protected" (repeatable, ' +
          'name or name=v1,v2, several separated by ";": prove whether the decision stays the same with that feature at each value) ' +
          'and "setup" ("ceremony": after compile the ' +
          'model waits in status ceremony for contributions over /v1/models/{id}/ceremony, and is ready once its owner ' +
          'finalizes it). The id is the sha256 of exactly the bytes stored, the settings, the input quantization and the ' +
          "labels (and a private model's blinding, and the reasons and fairness settings); " +
          'the same model registered by several tenants is one record per tenant. ' +
          'Field "visibility": "private" makes the parameters a private witness bound by a commitment (the ONNX file is then ' +
          'never served), with "blinding" (decimal, 1 to r - 1; default: a random one, which the owner reads at ' +
          'GET /v1/models/{id}/blinding to hand to an auditor with the file). The import runs in a worker thread ' +
          'under the ZKINFER_MAX_* limits (MODEL_TOO_LARGE: 413 for bytes, 422 otherwise, naming the limit and the node). ' +
          'Compile and setup run as a queued job.',
        consumes: ['multipart/form-data'],
        response: { 202: Accepted, ...errors },
      },
    },
    async (req, reply) => {
      const caller = app.auth(req, ['prover']);
      if (!req.isMultipart()) throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'upload the model as multipart/form-data', 'content-type');
      if (!app.queue.accepting()) throw new HttpError(503, 'BACKEND_UNAVAILABLE', 'the job queue is unavailable; try again later');
      const { limits } = app.config;
      const tooBig = (field: string) =>
        new HttpError(
          413,
          'MODEL_TOO_LARGE',
          `the model files are over the limit maxModelBytes = ${limits.maxModelBytes.toLocaleString('en-US')} bytes (setting ${MODEL_LIMIT_ENV.maxModelBytes})`,
          field,
        );
      let model: { name: string; bytes: Buffer } | undefined;
      let calibration: Buffer | undefined;
      const external: { name: string; bytes: Buffer }[] = [];
      const names = new Set<string>();
      const fields: Record<string, string> = {};
      const ranges: string[] = [];
      const protectedSpecs: string[] = [];
      let modelBytes = 0;
      for await (const part of req.parts()) {
        if (part.type === 'file') {
          let bytes: Buffer;
          try {
            bytes = await part.toBuffer();
          } catch (e) {
            if ((e as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') throw tooBig(part.fieldname);
            throw e;
          }
          if (part.fieldname === 'calibration') {
            if (calibration) throw new HttpError(400, 'VALIDATION', 'only one "calibration" file may be uploaded', 'calibration');
            calibration = bytes;
            continue;
          }
          modelBytes += bytes.length;
          if (modelBytes > limits.maxModelBytes) throw tooBig(part.fieldname);
          const name = part.filename || part.fieldname;
          if (!SAFE_NAME.test(name)) throw new HttpError(400, 'VALIDATION', `file name "${name}" is not allowed`, part.fieldname);
          // One part per file name: a second one would be stored under the same name as the first.
          if (names.has(name)) throw new HttpError(400, 'VALIDATION', `file name "${name}" is uploaded twice`, part.fieldname);
          names.add(name);
          if (part.fieldname === 'model') {
            if (model) throw new HttpError(400, 'VALIDATION', 'only one "model" file may be uploaded', 'model');
            model = { name, bytes };
          } else if (part.fieldname === 'external') external.push({ name, bytes });
          else throw new HttpError(400, 'VALIDATION', `unknown file field "${part.fieldname}"`, part.fieldname);
        } else {
          if (part.fieldname === 'inputRange') {
            ranges.push(String(part.value));
            continue;
          }
          if (part.fieldname === 'protected') {
            protectedSpecs.push(String(part.value));
            continue;
          }
          if (!['scale', 'bits', 'publicInput', 'labels', 'labelColumn', 'setup', 'visibility', 'blinding', 'reasons', 'baseline'].includes(part.fieldname))
            throw new HttpError(400, 'VALIDATION', `unknown field "${part.fieldname}"`, part.fieldname);
          if (fields[part.fieldname] !== undefined) throw new HttpError(400, 'VALIDATION', `field "${part.fieldname}" is given twice`, part.fieldname);
          fields[part.fieldname] = String(part.value);
        }
      }
      if (!model) throw new HttpError(400, 'VALIDATION', 'the "model" file field is required', 'model');
      const int = (name: string, dflt: number) => {
        if (fields[name] === undefined) return dflt;
        if (!/^\d{1,3}$/.test(fields[name])) throw new HttpError(400, 'VALIDATION', `${name} must be a whole number`, name);
        return Number(fields[name]);
      };
      const given = (name: string) => (fields[name] === undefined ? undefined : int(name, 0));
      // A scale given alone keeps the default activation width (resolveSettings).
      const settings = validateSettings(resolveSettings({ scaleBits: given('scale'), bits: given('bits') }));
      if (fields.publicInput !== undefined && !['true', 'false'].includes(fields.publicInput))
        throw new HttpError(400, 'VALIDATION', 'publicInput must be true or false', 'publicInput');
      const publicInput = fields.publicInput === 'true';
      if (fields.setup !== undefined && !['service', 'ceremony'].includes(fields.setup))
        throw new HttpError(400, 'VALIDATION', 'setup must be service or ceremony', 'setup');
      const setup = (fields.setup ?? 'service') as SetupMode;
      if (fields.visibility !== undefined && !['public', 'private'].includes(fields.visibility))
        throw new HttpError(400, 'VALIDATION', 'visibility must be public or private', 'visibility');
      const isPrivate = fields.visibility === 'private';
      if (fields.blinding !== undefined && !isPrivate) throw new HttpError(400, 'VALIDATION', 'blinding goes with visibility=private', 'blinding');
      if (fields.blinding !== undefined && !/^[1-9]\d{0,77}$/.test(fields.blinding))
        throw new HttpError(400, 'VALIDATION', 'blinding must be a decimal integer from 1 to r - 1', 'blinding');
      let blinding: bigint | null = null;
      if (isPrivate) {
        try {
          blinding = checkBlinding(fields.blinding !== undefined ? BigInt(fields.blinding) : randomSalt());
        } catch (e) {
          throw new HttpError(400, 'VALIDATION', (e as Error).message, 'blinding');
        }
      }
      const inputRanges = parseRanges(ranges);
      if (fields.labelColumn !== undefined && !calibration)
        throw new HttpError(400, 'VALIDATION', 'labelColumn names a column of the "calibration" file: upload one', 'labelColumn');
      const askedExplain = explainFields(fields, protectedSpecs);
      const wantedLabels = fields.labels === undefined ? undefined : fields.labels.split(',').map((l) => l.trim());

      // Import once now, from the very files that will be stored, so a bad model is a 4xx at
      // upload and the id is the hash of exactly the bytes kept. The import runs in a worker
      // thread with a bounded heap and time, never on this event loop.
      const staged = await stageUpload([model, ...external]);
      let id: string;
      let inputQuant: InputQuant | null;
      let labels: string[] | null;
      let explain: ExplainSettings | null;
      let rows: Float64Array[] | undefined;
      try {
        const loaded = await loadModelIsolated(path.join(staged, model.name), { limits, settings });
        for (const e of external) {
          if (!loaded.externalBytes.some((b) => Buffer.compare(Buffer.from(b), e.bytes) === 0)) {
            throw new HttpError(400, 'VALIDATION', `external file "${e.name}" is not referenced by the model`, 'external');
          }
        }
        // Calibration rows set the per-feature quantization (the ranges they imply are in the
        // model id); the first ones are kept for the compile's fidelity report, not in the id.
        rows = calibration ? await calibrationRows(calibration, loaded.ir, fields.labelColumn) : undefined;
        inputQuant = inputQuantOf(loaded.ir, settings, { calibration: rows, inputRanges });
        labels = checkLabels(loaded.ir, wantedLabels);
        explain = resolveExplain(askedExplain, loaded.ir, settings, inputQuant, rows);
        id = modelIdOf(loaded.bytes, loaded.externalBytes, settings, publicInput, inputQuant, labels, blinding, explain);
        // What a private model cannot be, refused now rather than by the compile job.
        if (isPrivate) {
          checkPrivateLayers(loaded.ir.layers);
          if (loaded.ir.inputs.some((i) => i.missing))
            throw new HttpError(422, 'SETTINGS', 'a private model cannot have imputed columns yet: their values would be public', 'visibility');
        }
      } catch (e) {
        await discardUpload(staged);
        throw e;
      }
      await publishUpload(staged, id);
      const { model: rec, enqueue } = await app.stores.models.register({
        tenant: caller.tenant,
        id,
        fileName: model.name,
        externalFiles: external.map((e) => e.name),
        settings,
        publicInput,
        inputQuant,
        labels,
        calibration: rows?.slice(0, MAX_KEPT_CALIBRATION_ROWS).map((r) => Array.from(r)) ?? null,
        setup,
        blinding: blinding === null ? null : blinding.toString(),
        explain,
      });
      if (rec.setup !== setup) throw new HttpError(409, 'SETUP_CONFLICT', `this model is already registered with setup=${rec.setup}`, 'setup');
      if (enqueue) {
        // Committed: if the hand-off fails, the reconciler hands the job over later.
        await app.queue.enqueueCompile(caller.tenant, id).catch((e: Error) => req.log.warn({ err: e }, 'compile job not handed to the queue yet'));
      }
      return reply.status(202).send({ id, status: rec.status });
    },
  );

  app.get(
    '/v1/models',
    {
      schema: {
        summary: "List models, a page at a time (a prover sees its own tenant's; a verifier or admin sees every tenant's)",
        querystring: ModelListQuery,
        response: { 200: ModelPageSchema, ...errors },
      },
    },
    async (req) => {
      const caller = app.auth(req, ['prover', 'verifier']);
      const q = req.query as { limit?: string; cursor?: string };
      const page = await app.stores.models.list({ tenant: caller.role === 'prover' ? caller.tenant : undefined, limit: pageLimit(q.limit), cursor: q.cursor });
      return {
        items: await Promise.all(page.items.map(async (m) => publicModel(m, await app.stores.versions.list(m.tenant, m.id), null, app.phase1))),
        nextCursor: page.nextCursor,
      };
    },
  );

  app.get(
    '/v1/models/:id',
    {
      schema: {
        summary:
          'A model: status, its labels and per-feature input quantization (fixed at upload), its key versions with their ' +
          "model descriptors, and the latest one's full descriptor (what `zkinfer audit --descriptor` replays), layer table, " +
          'constraints, fidelity, vkey hash and setup provenance',
        params: ModelId,
        querystring: TenantQuery,
        response: { 200: ModelSchema, ...errors },
      },
    },
    async (req) => {
      const rec = await findModel(req, app.auth(req, ['prover', 'verifier']));
      return publicModel(
        rec,
        await app.stores.versions.list(rec.tenant, rec.id),
        rec.setup === 'ceremony' ? await app.stores.ceremonies.get(rec.tenant, rec.id) : null,
        app.phase1,
      );
    },
  );

  app.get(
    '/v1/models/:id/blinding',
    {
      schema: {
        summary:
          "A private model's blinding value, for its owner only (a prover key of the tenant that registered it): hand it, " +
          'with the ONNX file, to an auditor in confidence (`zkinfer audit --private <model.onnx> --blinding <file>`). ' +
          'The body is the blinding file the CLI reads. 404 for a public model.',
        params: ModelId,
        querystring: TenantQuery,
        response: {
          200: Type.Object({ format: Type.Literal('zkinfer.blinding'), blinding: Type.String({ pattern: '^[1-9][0-9]{0,77}$' }) }),
          ...errors,
        },
      },
    },
    async (req, reply) => {
      const rec = await findModel(req, app.auth(req, ['prover']));
      if (!rec.blinding) throw new HttpError(404, 'NOT_FOUND', 'this model is public: it has no blinding value', 'id');
      reply.header('cache-control', 'no-store');
      return { format: 'zkinfer.blinding' as const, blinding: rec.blinding };
    },
  );

  app.get(
    '/v1/models/:id/vkey',
    {
      schema: {
        summary:
          "A version of the model's Groth16 verification key (snarkjs JSON; default: the latest ready version). Keys never change: each version keeps its own.",
        params: ModelId,
        querystring: VkeyQuery,
        response: { 200: Type.Object({}, { additionalProperties: true }), ...errors },
      },
    },
    async (req, reply) => {
      const caller = app.auth(req, ['prover', 'verifier']);
      const { vkeyHash } = req.query as { vkeyHash?: string };
      let v;
      if (vkeyHash !== undefined) {
        // A bundle names its key by hash: any registered version with that key will do.
        [v] = (await app.stores.versions.byKey((req.params as { id: string }).id, vkeyHash)).filter(
          (x) => caller.role !== 'prover' || x.tenant === caller.tenant,
        );
        if (!v) throw new HttpError(404, 'NOT_FOUND', `no registered version of this model has the key ${vkeyHash}`, 'vkeyHash');
      } else {
        v = await findVersion(req, await findModel(req, caller));
      }
      reply.header('x-zkinfer-model-version', String(v.version)).header('x-zkinfer-vkey-sha256', v.vkeyHash);
      return v.vkey;
    },
  );
}
