import type { FastifyInstance } from 'fastify';
import { type ErrorCode, ZkinferError } from '../../core/errors.ts';
import { phase2Trust } from '../../ceremony/trust.ts';
import { type Phase1Identity, phase1Of, phase1OfFile } from '../../prover/phase1.ts';
import { judgeSetup } from '../../verifier/trust.ts';
import type { Caller } from '../auth.ts';
import type { ModelVersion } from '../../store/versions.ts';
import { parseBundle } from '../../bundle/checks.ts';
import { decisionLabel, type ModelDescriptor } from '../../bundle/descriptor.ts';
import { fairnessLines, REASONS_NOTE, reasonsLine } from '../../bundle/explain-text.ts';
import type { DecodedOutputs } from '../../bundle/format.ts';
import { HttpError } from '../http-error.ts';
import { errorResponses, VerifyRequestSchema, VerifyResultSchema } from '../schemas.ts';
import type { VerifyTaskResult } from '../verify-child.ts';
import type { VerifyProcesses } from '../verify-processes.ts';

type Verdict = Extract<VerifyTaskResult, { ok: true }>;

/** The decoded outputs with each decision named as the CLI and the page name it ("0: decline (logit < 0)"). */
function labelled(outputs: Record<string, unknown> | null, model: Pick<ModelDescriptor, 'head' | 'labels'>): Record<string, unknown> | null {
  if (!outputs || !Array.isArray(outputs.decision)) return outputs;
  return { ...outputs, decisionLabels: (outputs.decision as number[]).map((d) => decisionLabel(model, Number(d))) };
}

export async function verifyRoutes(app: FastifyInstance): Promise<void> {
  /**
   * Whose registration of the model a verdict is about: the named tenant, else the caller's
   * own, else the only one. For a bundle the candidates are the tenants holding its key
   * (`byKey`: its versions of any tenant, one query), so the usual case asks nothing more.
   * Several and none named is a 409, as for GET /v1/models/{id}.
   */
  async function tenantFor(modelId: string, idField: string, caller: Caller, wanted: string | undefined, byKey?: ModelVersion[]): Promise<string> {
    const holders = byKey ? [...new Set(byKey.map((v) => v.tenant))] : [];
    if (wanted !== undefined && holders.includes(wanted)) return wanted;
    if (wanted === undefined && holders.includes(caller.tenant)) return caller.tenant;
    if (wanted === undefined && holders.length === 1) return holders[0];
    if (wanted === undefined && holders.length > 1)
      throw new HttpError(409, 'AMBIGUOUS_TENANT', `${holders.length} tenants registered this model with this key: name one with "tenant"`, 'tenant');
    const tenants = await app.stores.models.tenants(modelId);
    if (tenants.length === 0) throw new HttpError(404, 'NOT_FOUND', 'the model is not registered here', idField);
    if (wanted !== undefined) {
      if (!tenants.includes(wanted)) throw new HttpError(404, 'NOT_FOUND', `tenant ${wanted} has not registered this model`, 'tenant');
      return wanted;
    }
    if (tenants.includes(caller.tenant)) return caller.tenant;
    if (tenants.length === 1) return tenants[0];
    throw new HttpError(409, 'AMBIGUOUS_TENANT', `${tenants.length} tenants registered this model: name one with "tenant"`, 'tenant');
  }

  /** Runs a check in a verification process; a request that cannot be checked is a 4xx. */
  async function run(task: Parameters<VerifyProcesses['run']>[0]): Promise<Verdict> {
    const r = await app.verifier.run(task);
    if (!r.ok) {
      if ('internal' in r) throw new Error(r.internal);
      throw new ZkinferError(r.code as ErrorCode, r.message, r.field);
    }
    return r;
  }

  app.post(
    '/v1/verify',
    {
      bodyLimit: app.config.verifyBodyLimit,
      schema: {
        summary:
          'Verify a proof bundle, or a proof with its public signals and model id, against a registered key of the model ' +
          "(never a key sent in the request). A bundle is checked with the registered version whose key hash is the bundle's " +
          'vkeyHash; parts with the given version, else each version whose commitment is publicSignals[0], newest first. ' +
          "Every version's key stays registered, so earlier proofs keep verifying.",
        body: VerifyRequestSchema,
        response: {
          200: VerifyResultSchema,
          ...errorResponses(400, 401, 403, 404, 409, 413, 415, 429, 503),
        },
      },
    },
    async (req) => {
      const caller = app.auth(req, ['verifier', 'prover']);
      const body = req.body as {
        bundle?: unknown;
        modelId?: string;
        proof?: unknown;
        publicSignals?: unknown;
        version?: number;
        tenant?: string;
        expectVkeyHash?: string;
      };
      const bundle = body.bundle !== undefined ? parseBundle(body.bundle) : null;
      const modelId = bundle ? bundle.model.id : body.modelId!;
      const idField = bundle ? 'bundle.model.id' : 'modelId';
      const byKey = bundle ? await app.stores.versions.byKey(modelId, bundle.vkeyHash) : undefined;
      const tenant = await tenantFor(modelId, idField, caller, body.tenant, byKey);
      let used: ModelVersion;
      let r: Verdict;
      if (bundle) {
        const v = byKey!.find((x) => x.tenant === tenant);
        if (!v)
          throw new HttpError(409, 'UNKNOWN_KEY', `no registered version of this model (tenant ${tenant}) has the key ${bundle.vkeyHash}`, 'bundle.vkeyHash');
        used = v;
        r = await run({ kind: 'bundle', bundle, vkey: v.vkey, registered: v.descriptor });
      } else {
        const signals = Array.isArray(body.publicSignals) ? (body.publicSignals as unknown[]) : [];
        const byVersion = body.version !== undefined;
        let candidates = await app.stores.versions.find(
          modelId,
          byVersion ? { version: body.version, tenant } : { commitment: typeof signals[0] === 'string' ? signals[0] : '', tenant },
        );
        if (candidates.length === 0) {
          if (byVersion) throw new HttpError(404, 'NOT_FOUND', `the model has no version ${body.version}`, 'version');
          // No key of this model commits to publicSignals[0]: the latest one says why it fails.
          candidates = await app.stores.versions.find(modelId, { tenant }, 1);
          if (candidates.length === 0) throw new HttpError(409, 'MODEL_NOT_READY', 'the model has no key yet', 'modelId');
        }
        // A pinned key is tried first: the verdict is then about that key.
        if (body.expectVkeyHash)
          candidates = [...candidates.filter((v) => v.vkeyHash === body.expectVkeyHash), ...candidates.filter((v) => v.vkeyHash !== body.expectVkeyHash)];
        used = candidates[0];
        r = await run({ kind: 'parts', model: used.descriptor, proof: body.proof, publicSignals: body.publicSignals, vkey: used.vkey });
        for (const v of body.expectVkeyHash ? [] : candidates.slice(1)) {
          if (r.valid) break;
          const next = await run({ kind: 'parts', model: v.descriptor, proof: body.proof, publicSignals: body.publicSignals, vkey: v.vkey });
          if (next.valid) {
            used = v;
            r = next;
          }
        }
      }
      if (body.expectVkeyHash && used.vkeyHash !== body.expectVkeyHash) {
        r = {
          ...r,
          valid: false,
          reason: `the proof was checked with the key ${used.vkeyHash}, not the pinned key ${body.expectVkeyHash}`,
          field: 'expectVkeyHash',
          outputs: null,
          inputCommitment: null,
          nonce: null,
        };
      }
      app.metrics.verifications.inc({ result: r.valid ? 'valid' : 'invalid' });
      const phase1 = servicePhase1(used);
      const phase2 = phase2Trust(used.setup, used.tenant);
      // Proven reasons and fairness in the words every verifier uses (src/bundle/explain-text.ts).
      const decoded = r.valid ? (r.outputs as DecodedOutputs | null) : null;
      const reasonsText = decoded ? reasonsLine(decoded) : null;
      const fairnessText = decoded ? fairnessLines(decoded, used.descriptor) : [];
      return {
        valid: r.valid,
        reason: r.reason,
        ...(r.field ? { field: r.field } : {}),
        modelId: used.modelId,
        tenant: used.tenant,
        vkeyHash: used.vkeyHash,
        version: used.version,
        outputs: r.valid ? labelled(r.outputs as Record<string, unknown> | null, used.descriptor) : null,
        ...(reasonsText ? { reasonsText, reasonsNote: REASONS_NOTE } : {}),
        ...(fairnessText.length ? { fairnessText } : {}),
        inputCommitment: r.valid ? (r.inputCommitment ?? null) : null,
        nonce: r.valid ? (r.nonce ?? null) : null,
        ...(r.valid && used.descriptor.parameters ? { parameters: used.descriptor.parameters } : {}),
        phase1,
        trust: judgeSetup(phase1, { contributions: phase2.contributions, independent: phase2.independent }).summary,
        // The contribution list (who uploaded each, as this service recorded it), and who the key depends on.
        setup: { ...used.setup, trust: phase2 } as unknown as Record<string, unknown>,
      };
    },
  );
}

/**
 * Phase 1 of a registered key: the service set every key up on a ptau file it checked by
 * hash (its configured file, or the development one), so this is the service's own check,
 * labelled as such. A key carrying the development points is development whatever its record says.
 */
function servicePhase1(v: ModelVersion): Phase1Identity {
  const fromKey = phase1Of(v.vkey);
  if (fromKey.kind === 'development') return fromKey;
  const p = v.setup.ptau;
  return phase1OfFile(
    { kind: p.kind === 'ceremony' ? 'ceremony' : p.kind === 'development' ? 'development' : 'operator-pinned', name: p.name, power: p.power, sha256: p.sha256 },
    { checkedBy: 'service' },
  );
}
