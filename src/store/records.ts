import type { VerificationKey } from 'snarkjs';
import type { LayerPlan } from '../circuit/index.ts';
import type { BundleModel } from '../bundle/descriptor.ts';
import type { SetupProvenance } from '../bundle/format.ts';
import type { FidelityReport, QuantSettings } from '../quant/index.ts';
import { Ceremonies, type CeremonyStart } from './ceremonies.ts';
import type { InputQuant } from '../quant/input-quant.ts';
import { isSealed, RequestKeys } from './request-keys.ts';
import type { Db, Sql } from './db.ts';

/** 'ceremony': compiled, its phase-2 ceremony open (no key yet: no proofs until it is finalized). */
export type ModelStatus = 'queued' | 'compiling' | 'ceremony' | 'ready' | 'failed';
/** Who makes the phase-2 key: the service alone (a contribution and a beacon), or a ceremony over REST. */
export type SetupMode = 'service' | 'ceremony';
export type ProofStatus = 'queued' | 'proving' | 'done' | 'failed';
/** Serializes compile claims (per-tenant limits are counted, then taken, under it). */
const COMPILE_CLAIM_LOCK = 'zkinfer-compile-claim';

export type JobKind = 'compile' | 'prove';

/** A model registered by one tenant (public: no private data in it). */
export interface ModelRecord {
  tenant: string;
  id: string;
  status: ModelStatus;
  reason?: string;
  fileName: string;
  externalFiles: string[];
  settings: QuantSettings;
  /** The quantized input is in the public signals instead of a commitment. */
  publicInput: boolean;
  setup: SetupMode;
  /** Per-feature input quantization fixed at upload (null: the settings' defaults). */
  inputQuant?: InputQuant | null;
  /** Decision names fixed at upload. */
  labels?: string[] | null;
  attempts: number;
  createdAt: string;
  updatedAt: string;
}

/** What the API checks a proof request against. */
export interface ModelSummary {
  inputs: { name: string; size: number }[];
  outputSize: number;
  decisionSize: number;
  head: 'none' | 'sigmoid' | 'softmax' | 'argmax';
}

/** One immutable key of a model: a new circuit or a new setup makes a new version. */
export interface NewVersion {
  circuitHash: string;
  /** sha256 of the generated main.circom, checked before the source is served. */
  circuitSourceSha256: string;
  commitment: string;
  /** bundleModel()'s output, stored and handed back as is. */
  descriptor: BundleModel;
  summary: ModelSummary;
  vkey: VerificationKey;
  vkeyHash: string;
  setup: SetupProvenance;
  constraints: number;
  layers: LayerPlan[];
  fidelity: FidelityReport | null;
}

export interface ModelVersion extends NewVersion {
  tenant: string;
  modelId: string;
  version: number;
  status: 'ready' | 'retired';
  createdAt: string;
}

export interface ProofTimingsRecord {
  witnessMs: number;
  proveMs: number;
  verifyMs: number;
  totalMs: number;
}

export interface ProofRecord {
  id: string;
  tenant: string;
  modelId: string;
  /** The key version the proof was made with, once done. */
  modelVersion?: number;
  status: ProofStatus;
  reason?: string;
  /** Stage reached: queued, witness, stored. */
  stage: string;
  timings?: ProofTimingsRecord;
  /** host:pid of the worker that made the proof. */
  worker?: string;
  attempts: number;
  createdAt: string;
  updatedAt: string;
}

/** The private part of a request: kept only until the proof ends, never logged. */
export interface ProofRequestSecret {
  input: unknown;
  salt?: string;
  nonce?: string;
}

export interface Page<T> {
  items: T[];
  /** Opaque: pass it back as `cursor` for the next page; null on the last one. */
  nextCursor: string | null;
}

export type AcceptResult = { kind: 'accepted'; proofId: string } | { kind: 'existing'; proofId: string; payloadHash: string; status: ProofStatus };

/** A job the embedded queue handed to this process's worker. */
export type ClaimedJob = { kind: 'compile'; tenant: string; id: string } | { kind: 'prove'; id: string };

const iso = (v: unknown): string => (v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString());
const json = (v: unknown): string => JSON.stringify(v);

function modelRow(r: Record<string, any>): ModelRecord {
  return {
    tenant: r.tenant,
    id: r.id,
    status: r.status,
    ...(r.reason ? { reason: r.reason } : {}),
    fileName: r.file_name,
    externalFiles: r.external_files,
    settings: r.settings,
    publicInput: r.public_input,
    setup: r.setup ?? 'service',
    // jsonb reorders object keys; the model id hashes this object's JSON text, so it is
    // rebuilt in the field order inputQuantOf produces.
    ...(r.input_quant ? { inputQuant: { scaleBits: r.input_quant.scaleBits, bits: r.input_quant.bits, lo: r.input_quant.lo, hi: r.input_quant.hi } } : {}),
    ...(r.labels ? { labels: r.labels } : {}),
    attempts: r.attempts,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

function versionRow(r: Record<string, any>): ModelVersion {
  return {
    tenant: r.tenant,
    modelId: r.model_id,
    version: r.version,
    status: r.status,
    circuitHash: r.circuit_hash,
    circuitSourceSha256: r.circuit_source_sha256,
    commitment: r.commitment,
    descriptor: r.descriptor,
    summary: r.summary,
    vkey: r.vkey,
    vkeyHash: r.vkey_hash,
    setup: r.setup,
    constraints: r.constraints,
    layers: r.layers,
    fidelity: r.fidelity ?? null,
    createdAt: iso(r.created_at),
  };
}

function proofRow(r: Record<string, any>): ProofRecord {
  return {
    id: r.id,
    tenant: r.tenant,
    modelId: r.model_id,
    ...(r.model_version !== null && r.model_version !== undefined ? { modelVersion: r.model_version } : {}),
    status: r.status,
    ...(r.reason ? { reason: r.reason } : {}),
    stage: r.stage,
    ...(r.timings ? { timings: r.timings } : {}),
    ...(r.worker ? { worker: r.worker } : {}),
    attempts: r.attempts,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

/** Keyset cursors: the sort key of the last row of a page, opaque to callers. */
function encodeCursor(parts: (string | number)[]): string {
  return Buffer.from(JSON.stringify(parts)).toString('base64url');
}

export class CursorError extends Error {}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TENANT = /^[A-Za-z0-9_-]{1,200}$/;
const MODEL_ID = /^[0-9a-f]{64}$/;
/** What each part of a cursor must look like before the database sees it (a bad one is a 400, not a cast error). */
export const CURSOR_PARTS = {
  /** (created_at, id) of a proof. */
  proof: [(v: string) => ISO_TIME.test(v) && Number.isFinite(Date.parse(v)), (v: string) => UUID.test(v)],
  /** (tenant, id) of a model. */
  model: [(v: string) => TENANT.test(v), (v: string) => MODEL_ID.test(v)],
} as const;

function decodeCursor(cursor: string, parts: readonly ((v: string) => boolean)[]): string[] {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === parts.length && v.every((x, i) => typeof x === 'string' && parts[i](x))) return v;
  } catch {
    // fall through
  }
  throw new CursorError('cursor is not one this service handed out');
}

const PROOF_COLUMNS = 'id, tenant, model_id, model_version, status, reason, stage, timings, worker, attempts, created_at, updated_at';
const MODEL_COLUMNS = 'tenant, id, status, reason, file_name, external_files, settings, public_input, input_quant, labels, setup, attempts, created_at, updated_at';

class IdempotencyTaken extends Error {}

/** Inserts key version `version` of a model, ready (inside the caller's transaction). */
export async function insertVersion(q: Sql, tenant: string, modelId: string, version: number, v: NewVersion): Promise<void> {
  await q.query(
    `INSERT INTO model_versions (tenant, model_id, version, status, circuit_hash, circuit_source_sha256, commitment, descriptor, summary, vkey, vkey_hash, setup, constraints, layers, fidelity)
     VALUES ($1, $2, $3, 'ready', $4, $5, $6, $7::jsonb, $8::jsonb, $9::jsonb, $10, $11::jsonb, $12, $13::jsonb, $14::jsonb)`,
    [tenant, modelId, version, v.circuitHash, v.circuitSourceSha256, v.commitment, json(v.descriptor), json(v.summary), json(v.vkey), v.vkeyHash, json(v.setup), v.constraints, json(v.layers), v.fidelity === null ? null : json(v.fidelity)],
  );
}

/**
 * Every read and write of the service's records, in one SQL dialect for PostgreSQL and
 * PGlite. Methods the workers use take and return plain JSON (timestamps as ISO strings),
 * so the embedded worker process can call them over IPC.
 */
export class Records {
  /** Private requests are sealed under per-request keys kept in these files (see request-keys.ts). */
  readonly requestKeys: RequestKeys;
  constructor(
    readonly db: Db,
    opts: { requestKeys?: RequestKeys } = {},
  ) {
    this.requestKeys = opts.requestKeys ?? new RequestKeys();
  }

  // ---- models ----

  async getModel(tenant: string, id: string): Promise<ModelRecord | null> {
    const [r] = await this.db.query(`SELECT ${MODEL_COLUMNS} FROM models WHERE tenant = $1 AND id = $2`, [tenant, id]);
    return r ? modelRow(r) : null;
  }

  /** The tenants that registered model `id` (a content hash: the same upload may have several). */
  async modelTenants(id: string): Promise<string[]> {
    return (await this.db.query<{ tenant: string }>('SELECT tenant FROM models WHERE id = $1 ORDER BY created_at', [id])).map((r) => r.tenant);
  }

  /**
   * Registers a model for a tenant, or gives a failed one another go. Returns the record
   * and whether a compile job is due.
   */
  async registerModel(
    m: Pick<ModelRecord, 'tenant' | 'id' | 'fileName' | 'externalFiles' | 'settings' | 'publicInput' | 'inputQuant' | 'labels'> & { setup?: SetupMode },
  ): Promise<{ model: ModelRecord; enqueue: boolean }> {
    const rows = await this.db.query(
      `INSERT INTO models (tenant, id, status, file_name, external_files, settings, public_input, input_quant, labels, setup)
       VALUES ($1, $2, 'queued', $3, $4::jsonb, $5::jsonb, $6, $7::jsonb, $8::jsonb, $9)
       ON CONFLICT (tenant, id) DO UPDATE SET status = 'queued', reason = NULL, attempts = 0, handed_at = NULL, lease_owner = NULL, lease_until = NULL, setup = $9, updated_at = date_trunc('milliseconds', now())
         WHERE models.status = 'failed'
       RETURNING ${MODEL_COLUMNS}`,
      [m.tenant, m.id, m.fileName, json(m.externalFiles), json(m.settings), m.publicInput, m.inputQuant ? json(m.inputQuant) : null, m.labels ? json(m.labels) : null, m.setup ?? 'service'],
    );
    if (rows.length) return { model: modelRow(rows[0]), enqueue: true };
    return { model: (await this.getModel(m.tenant, m.id))!, enqueue: false };
  }

  async setModelStatus(tenant: string, id: string, status: ModelStatus, reason?: string): Promise<void> {
    await this.db.query(
      `UPDATE models SET status = $3, reason = $4, updated_at = date_trunc('milliseconds', now())${status === 'ready' || status === 'failed' ? ', lease_owner = NULL, lease_until = NULL' : ''}
       WHERE tenant = $1 AND id = $2`,
      [tenant, id, status, reason ?? null],
    );
  }

  /** Models a caller may list: one tenant's, or all; keyset pages in (tenant, id) order. */
  async listModels(filter: { tenant?: string; limit: number; cursor?: string }): Promise<Page<ModelRecord>> {
    const params: unknown[] = [];
    const where: string[] = [];
    if (filter.tenant !== undefined) {
      params.push(filter.tenant);
      where.push(`tenant = $${params.length}`);
    }
    if (filter.cursor) {
      const [t, id] = decodeCursor(filter.cursor, CURSOR_PARTS.model);
      params.push(t, id);
      where.push(`(tenant, id) > ($${params.length - 1}, $${params.length})`);
    }
    params.push(filter.limit + 1);
    const rows = await this.db.query(
      `SELECT ${MODEL_COLUMNS} FROM models ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY tenant, id LIMIT $${params.length}`,
      params,
    );
    const items = rows.slice(0, filter.limit).map(modelRow);
    const last = items.at(-1);
    return { items, nextCursor: rows.length > filter.limit && last ? encodeCursor([last.tenant, last.id]) : null };
  }

  // ---- versions ----

  async versions(tenant: string, modelId: string): Promise<ModelVersion[]> {
    return (await this.db.query('SELECT * FROM model_versions WHERE tenant = $1 AND model_id = $2 ORDER BY version', [tenant, modelId])).map(versionRow);
  }

  async version(tenant: string, modelId: string, version?: number): Promise<ModelVersion | null> {
    const [r] =
      version === undefined
        ? await this.db.query("SELECT * FROM model_versions WHERE tenant = $1 AND model_id = $2 AND status = 'ready' ORDER BY version DESC LIMIT 1", [tenant, modelId])
        : await this.db.query('SELECT * FROM model_versions WHERE tenant = $1 AND model_id = $2 AND version = $3', [tenant, modelId, version]);
    return r ? versionRow(r) : null;
  }

  latestVersion(tenant: string, modelId: string): Promise<ModelVersion | null> {
    return this.version(tenant, modelId);
  }

  /**
   * The version for what a worker just compiled and set up: the latest one when its circuit
   * and key are the same, else a new version (keys are never overwritten). Marks the model
   * ready in the same transaction.
   */
  async recordVersion(tenant: string, modelId: string, v: NewVersion): Promise<number> {
    return this.db.tx(async (q) => {
      // Serializes version numbering per model (two workers finishing at once).
      const locked = await q.query('SELECT 1 FROM models WHERE tenant = $1 AND id = $2 FOR UPDATE', [tenant, modelId]);
      if (!locked.length) throw new Error(`model ${modelId} of tenant ${tenant} is not registered`);
      const [latest] = await q.query<{ version: number; circuit_hash: string; vkey_hash: string }>(
        'SELECT version, circuit_hash, vkey_hash FROM model_versions WHERE tenant = $1 AND model_id = $2 ORDER BY version DESC LIMIT 1',
        [tenant, modelId],
      );
      let version = latest?.version ?? 0;
      if (!latest || latest.circuit_hash !== v.circuitHash || latest.vkey_hash !== v.vkeyHash) {
        version += 1;
        await insertVersion(q, tenant, modelId, version, v);
      }
      await q.query(
        "UPDATE models SET status = 'ready', reason = NULL, lease_owner = NULL, lease_until = NULL, updated_at = date_trunc('milliseconds', now()) WHERE tenant = $1 AND id = $2",
        [tenant, modelId],
      );
      return version;
    });
  }

  /**
   * A compiled model whose setup is a ceremony: its ceremony row (the initial key as base
   * and current key) and the model in status 'ceremony', in one transaction (the worker's call).
   */
  startCeremony(tenant: string, modelId: string, c: CeremonyStart): Promise<void> {
    return new Ceremonies(this.db).start(tenant, modelId, c);
  }

  /** Versions of a model (every tenant's) with this key hash, newest first. */
  async versionsByKey(modelId: string, vkeyHash: string): Promise<ModelVersion[]> {
    return (await this.db.query("SELECT * FROM model_versions WHERE model_id = $1 AND vkey_hash = $2 AND status = 'ready' ORDER BY created_at DESC LIMIT 32", [modelId, vkeyHash])).map(versionRow);
  }

  /** Versions of a model (any tenant's, or one tenant's), by number or by commitment, newest first, one per key. */
  async versionsFor(modelId: string, by: { version?: number; commitment?: string; tenant?: string }, limit = 4): Promise<ModelVersion[]> {
    const params: unknown[] = [modelId];
    let cond = '';
    if (by.tenant !== undefined) {
      params.push(by.tenant);
      cond += ` AND tenant = $${params.length}`;
    }
    if (by.version !== undefined) {
      params.push(by.version);
      cond += ` AND version = $${params.length}`;
    }
    if (by.commitment !== undefined) {
      params.push(by.commitment);
      cond += ` AND commitment = $${params.length}`;
    }
    const rows = (await this.db.query(`SELECT * FROM model_versions WHERE model_id = $1 AND status = 'ready'${cond} ORDER BY created_at DESC LIMIT 32`, params)).map(versionRow);
    const seen = new Set<string>();
    return rows.filter((v) => !seen.has(v.vkeyHash) && seen.add(v.vkeyHash)).slice(0, limit);
  }

  // ---- proofs ----

  /**
   * Accepts a proof request: the record, its private request and its idempotency key
   * commit together or not at all. With a key already bound, nothing is written and the
   * bound proof is returned.
   */
  async acceptProof(p: { id: string; tenant: string; modelId: string; request: ProofRequestSecret; idempotency?: { key: string; payloadHash: string } }): Promise<AcceptResult> {
    // The key file is on disk before the commit; if the commit does not happen it goes.
    const sealed = await this.requestKeys.seal(p.id, p.request);
    let committed = false;
    try {
      await this.db.tx(async (q) => {
        await q.query(`INSERT INTO proofs (id, tenant, model_id, status, stage) VALUES ($1, $2, $3, 'queued', 'queued')`, [p.id, p.tenant, p.modelId]);
        await q.query('INSERT INTO proof_requests (proof_id, body) VALUES ($1, $2::jsonb)', [p.id, json(sealed)]);
        if (p.idempotency) {
          // Of concurrent requests with one key, one inserts; the others wait for it to
          // commit, find the key taken and roll back everything they wrote.
          const bound = await q.query('INSERT INTO idempotency_keys (tenant, key, payload_hash, proof_id) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING proof_id', [
            p.tenant,
            p.idempotency.key,
            p.idempotency.payloadHash,
            p.id,
          ]);
          if (!bound.length) throw new IdempotencyTaken();
        }
      });
      committed = true;
      return { kind: 'accepted', proofId: p.id };
    } catch (e) {
      if (!(e instanceof IdempotencyTaken)) throw e;
      const [r] = await this.db.query<{ proof_id: string; payload_hash: string; status: ProofStatus }>(
        'SELECT k.proof_id, k.payload_hash, p.status FROM idempotency_keys k JOIN proofs p ON p.id = k.proof_id WHERE k.tenant = $1 AND k.key = $2',
        [p.tenant, p.idempotency!.key],
      );
      if (!r) throw new Error('idempotency key vanished while it was read');
      return { kind: 'existing', proofId: r.proof_id, payloadHash: r.payload_hash, status: r.status };
    } finally {
      if (!committed) await this.requestKeys.erase(p.id).catch(() => {});
    }
  }

  async getProof(id: string): Promise<ProofRecord | null> {
    if (!/^[0-9a-f-]{36}$/.test(id)) return null;
    const [r] = await this.db.query(`SELECT ${PROOF_COLUMNS} FROM proofs WHERE id = $1`, [id]);
    return r ? proofRow(r) : null;
  }

  async hasRequest(id: string): Promise<boolean> {
    return (await this.db.query('SELECT 1 FROM proof_requests WHERE proof_id = $1', [id])).length > 0;
  }

  /** One page of proofs, newest first, read through the (tenant, model, created_at) indexes. */
  async listProofs(filter: { tenant?: string; modelId?: string; limit: number; cursor?: string }): Promise<Page<ProofRecord>> {
    const params: unknown[] = [];
    const where: string[] = [];
    if (filter.tenant !== undefined) {
      params.push(filter.tenant);
      where.push(`tenant = $${params.length}`);
    }
    if (filter.modelId !== undefined) {
      params.push(filter.modelId);
      where.push(`model_id = $${params.length}`);
    }
    if (filter.cursor) {
      const [at, id] = decodeCursor(filter.cursor, CURSOR_PARTS.proof);
      params.push(at, id);
      where.push(`(created_at, id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
    }
    params.push(filter.limit + 1);
    const rows = await this.db.query(
      `SELECT ${PROOF_COLUMNS} FROM proofs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
      params,
    );
    const items = rows.slice(0, filter.limit).map(proofRow);
    const last = items.at(-1);
    return { items, nextCursor: rows.length > filter.limit && last ? encodeCursor([last.createdAt, last.id]) : null };
  }

  /** What a worker needs to prove: the record, its model and the private request. */
  async proofJob(id: string): Promise<{ proof: ProofRecord; model: ModelRecord | null; request: ProofRequestSecret | null } | null> {
    const proof = await this.getProof(id);
    if (!proof) return null;
    const model = await this.getModel(proof.tenant, proof.modelId);
    const [req] = await this.db.query<{ body: unknown }>('SELECT body FROM proof_requests WHERE proof_id = $1', [id]);
    // A request whose key is gone (or that does not open) is missing: the proof fails.
    const request = !req ? null : isSealed(req.body) ? await this.requestKeys.open<ProofRequestSecret>(id, req.body) : (req.body as ProofRequestSecret);
    return { proof, model, request };
  }

  async setProofStage(id: string, status: 'queued' | 'proving', stage: string): Promise<void> {
    await this.db.query("UPDATE proofs SET status = $2, stage = $3, updated_at = date_trunc('milliseconds', now()) WHERE id = $1 AND status IN ('queued', 'proving')", [id, status, stage]);
  }

  /** Done: the record says so and the private request is gone, in one transaction. */
  async finishProof(id: string, r: { modelVersion: number; timings: ProofTimingsRecord; worker: string }): Promise<void> {
    await this.db.tx(async (q) => {
      await q.query(
        `UPDATE proofs SET status = 'done', stage = 'stored', reason = NULL, model_version = $2, timings = $3::jsonb, worker = $4, lease_owner = NULL, lease_until = NULL,
           updated_at = date_trunc('milliseconds', now()) WHERE id = $1`,
        [id, r.modelVersion, json(r.timings), r.worker],
      );
      await q.query('DELETE FROM proof_requests WHERE proof_id = $1', [id]);
    });
    await this.requestKeys.erase(id);
  }

  /** Failed, with the reason; the private request is deleted in the same transaction. Done stays done. */
  async failProof(id: string, reason: string): Promise<void> {
    await this.db.tx(async (q) => {
      await q.query(
        `UPDATE proofs SET status = 'failed', reason = $2, lease_owner = NULL, lease_until = NULL, updated_at = date_trunc('milliseconds', now())
         WHERE id = $1 AND status <> 'done'`,
        [id, reason.slice(0, 2000)],
      );
      await q.query('DELETE FROM proof_requests WHERE proof_id = $1', [id]);
    });
    await this.requestKeys.erase(id);
  }

  // ---- the outbox and the reconciler ----

  /** Records that are committed but not yet handed to the queue backend. */
  async unhanded(kind: JobKind, olderThanMs: number, limit: number): Promise<{ id: string; tenant: string }[]> {
    const table = kind === 'compile' ? 'models' : 'proofs';
    return this.db.query(
      `SELECT id, tenant FROM ${table} WHERE status = 'queued' AND handed_at IS NULL AND created_at < now() - ($1::int * interval '1 millisecond') ORDER BY created_at LIMIT $2`,
      [olderThanMs, limit],
    );
  }

  async markHanded(kind: JobKind, tenant: string, id: string): Promise<void> {
    if (kind === 'compile') await this.db.query('UPDATE models SET handed_at = now() WHERE tenant = $1 AND id = $2 AND handed_at IS NULL', [tenant, id]);
    else await this.db.query('UPDATE proofs SET handed_at = now() WHERE id = $1 AND handed_at IS NULL', [id]);
  }

  /** Open records (queued or running) to check against the queue, least recently checked first. */
  async openToCheck(kind: JobKind, limit: number): Promise<{ id: string; tenant: string; status: string }[]> {
    const table = kind === 'compile' ? 'models' : 'proofs';
    const open = kind === 'compile' ? "('queued', 'compiling')" : "('queued', 'proving')";
    const rows = await this.db.query<{ id: string; tenant: string; status: string }>(
      `SELECT id, tenant, status FROM ${table} WHERE status IN ${open} AND handed_at IS NOT NULL ORDER BY checked_at NULLS FIRST, created_at LIMIT $1`,
      [limit],
    );
    if (rows.length) {
      if (kind === 'compile') {
        await this.db.query(`UPDATE models SET checked_at = now() WHERE (tenant, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`, [rows.map((r) => r.tenant), rows.map((r) => r.id)]);
      } else {
        await this.db.query('UPDATE proofs SET checked_at = now() WHERE id = ANY($1::uuid[])', [rows.map((r) => r.id)]);
      }
    }
    return rows;
  }

  /** Whether a record still waits for its job (queued, compiling or proving). */
  async isOpen(kind: JobKind, tenant: string, id: string): Promise<boolean> {
    const rows =
      kind === 'compile'
        ? await this.db.query("SELECT 1 FROM models WHERE tenant = $1 AND id = $2 AND status IN ('queued', 'compiling')", [tenant, id])
        : await this.db.query("SELECT 1 FROM proofs WHERE id = $1 AND status IN ('queued', 'proving')", [id]);
    return rows.length > 0;
  }

  async failModel(tenant: string, id: string, reason: string): Promise<void> {
    await this.db.query(
      "UPDATE models SET status = 'failed', reason = $3, lease_owner = NULL, lease_until = NULL, updated_at = date_trunc('milliseconds', now()) WHERE tenant = $1 AND id = $2 AND status IN ('queued', 'compiling')",
      [tenant, id, reason.slice(0, 2000)],
    );
  }

  /** Forgets workers not seen for a day (each restart of a worker is a new name). */
  /**
   * Rewrites the private-request table (VACUUM FULL): a deleted request's bytes otherwise
   * stay in the table's files until PostgreSQL reuses the space. The table only holds
   * requests still waiting for their proof, so the rewrite is small.
   */
  async scrubDeletedRequests(): Promise<void> {
    await this.db.query('VACUUM FULL proof_requests');
    // Keys whose request is gone (a rolled-back acceptance, a crash before the erase).
    await this.requestKeys.sweep(async (ids) => {
      const rows = await this.db.query<{ proof_id: string }>('SELECT proof_id::text FROM proof_requests WHERE proof_id = ANY($1::uuid[])', [ids]);
      return new Set(rows.map((r) => r.proof_id));
    }, 60_000);
  }

  async pruneHeartbeats(): Promise<void> {
    await this.db.query("DELETE FROM worker_heartbeats WHERE seen_at < now() - interval '1 day'");
  }

  async pruneIdempotencyKeys(ttlMs: number): Promise<number> {
    return (await this.db.query('DELETE FROM idempotency_keys WHERE created_at < now() - ($1::bigint * interval \'1 millisecond\') RETURNING 1', [ttlMs])).length;
  }

  /** Counts of open jobs per kind, for /metrics. */
  async openCounts(): Promise<{ compile: number; prove: number }> {
    const [r] = await this.db.query<{ compile: number; prove: number }>(
      "SELECT (SELECT count(*)::int FROM models WHERE status IN ('queued', 'compiling')) AS compile, (SELECT count(*)::int FROM proofs WHERE status IN ('queued', 'proving')) AS prove",
    );
    return r;
  }

  // ---- the embedded queue: rows are the jobs, taken with a lease ----

  /**
   * Takes the oldest queued job (compiles first) for `owner` until now + leaseMs. SKIP
   * LOCKED lets several dispatchers share one PostgreSQL without taking the same row.
   */
  /** The next job of either kind (compiles first), for a worker that runs both. */
  async claimNext(owner: string, leaseMs: number, compilesPerTenant = Number.MAX_SAFE_INTEGER): Promise<ClaimedJob | null> {
    return (await this.claimCompile(owner, leaseMs, compilesPerTenant)) ?? (await this.claimProve(owner, leaseMs));
  }

  /**
   * Takes the next queued compile/setup job with a lease: round-robin across tenants (the
   * tenant whose last compile was taken longest ago first, then the oldest upload), skipping
   * tenants that already run `perTenant` compiles. Claims are serialized by an advisory lock
   * so two dispatchers cannot both take a tenant's last free slot.
   */
  async claimCompile(owner: string, leaseMs: number, perTenant: number): Promise<ClaimedJob | null> {
    return this.db.tx(async (q) => {
      await q.query('SELECT pg_advisory_xact_lock(hashtext($1))', [COMPILE_CLAIM_LOCK]);
      const [m] = await q.query<{ tenant: string; id: string }>(
        `UPDATE models SET status = 'compiling', lease_owner = $1, lease_until = now() + ($2::int * interval '1 millisecond'), attempts = attempts + 1,
           claimed_at = clock_timestamp(), updated_at = date_trunc('milliseconds', now())
         WHERE (tenant, id) = (
           SELECT m.tenant, m.id FROM models m
           WHERE m.status = 'queued' AND (m.lease_until IS NULL OR m.lease_until < now())
             AND (SELECT count(*) FROM models r WHERE r.tenant = m.tenant AND r.status = 'compiling') < $3
           ORDER BY (SELECT max(c.claimed_at) FROM models c WHERE c.tenant = m.tenant) ASC NULLS FIRST, m.created_at, m.id
           LIMIT 1 FOR UPDATE SKIP LOCKED)
         RETURNING tenant, id`,
        [owner, leaseMs, Math.min(perTenant, 2 ** 31 - 1)],
      );
      return m ? { kind: 'compile' as const, tenant: m.tenant, id: m.id } : null;
    });
  }

  /**
   * A BullMQ worker about to compile a model: marks it compiling unless its tenant already
   * runs `perTenant` other compiles (false: the job waits and is tried again later).
   */
  async startCompile(tenant: string, id: string, perTenant: number): Promise<boolean> {
    return this.db.tx(async (q) => {
      await q.query('SELECT pg_advisory_xact_lock(hashtext($1))', [COMPILE_CLAIM_LOCK]);
      const [{ n }] = await q.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM models WHERE tenant = $1 AND id <> $2 AND status = 'compiling'",
        [tenant, id],
      );
      if (n >= perTenant) return false;
      await q.query(
        "UPDATE models SET status = 'compiling', claimed_at = clock_timestamp(), updated_at = date_trunc('milliseconds', now()) WHERE tenant = $1 AND id = $2 AND status IN ('queued', 'compiling')",
        [tenant, id],
      );
      return true;
    });
  }

  /** Compile jobs of a tenant not finished yet (queued or compiling). */
  async openCompiles(tenant: string): Promise<number> {
    const [{ n }] = await this.db.query<{ n: number }>("SELECT count(*)::int AS n FROM models WHERE tenant = $1 AND status IN ('queued', 'compiling')", [tenant]);
    return n;
  }

  /** Takes the oldest queued proof with a lease. */
  async claimProve(owner: string, leaseMs: number): Promise<ClaimedJob | null> {
    const [p] = await this.db.query<{ id: string }>(
      `UPDATE proofs SET status = 'proving', lease_owner = $1, lease_until = now() + ($2::int * interval '1 millisecond'), attempts = attempts + 1, updated_at = date_trunc('milliseconds', now())
       WHERE id = (SELECT id FROM proofs WHERE status = 'queued' AND (lease_until IS NULL OR lease_until < now()) ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
       RETURNING id`,
      [owner, leaseMs],
    );
    return p ? { kind: 'prove', id: p.id } : null;
  }

  async renewLease(job: ClaimedJob, owner: string, leaseMs: number): Promise<void> {
    if (job.kind === 'compile') {
      await this.db.query("UPDATE models SET lease_until = now() + ($4::int * interval '1 millisecond') WHERE tenant = $1 AND id = $2 AND lease_owner = $3", [job.tenant, job.id, owner, leaseMs]);
    } else {
      await this.db.query("UPDATE proofs SET lease_until = now() + ($3::int * interval '1 millisecond') WHERE id = $1 AND lease_owner = $2", [job.id, owner, leaseMs]);
    }
  }

  /**
   * A job whose worker stopped without finishing it (an error worth retrying, or the
   * process died): queued again after `retryInMs`, or failed with `reason` once it has
   * been taken `maxAttempts` times. Finished records are left alone.
   */
  async releaseJob(job: ClaimedJob, owner: string | null, reason: string, maxAttempts: number, retryInMs: number): Promise<'requeued' | 'failed' | 'finished'> {
    const table = job.kind === 'compile' ? 'models' : 'proofs';
    const running = job.kind === 'compile' ? 'compiling' : 'proving';
    const key = job.kind === 'compile' ? 'tenant = $1 AND id = $2' : 'id = $1';
    const keyParams: unknown[] = job.kind === 'compile' ? [job.tenant, job.id] : [job.id];
    const ownerCond = owner === null ? '' : ` AND lease_owner = $${keyParams.length + 1}`;
    const params = owner === null ? keyParams : [...keyParams, owner];
    const outcome = await this.db.tx(async (q) => {
      const [r] = await q.query<{ attempts: number; status: string }>(`SELECT attempts, status FROM ${table} WHERE ${key}${ownerCond} FOR UPDATE`, params);
      if (!r || (r.status !== running && r.status !== 'queued')) return 'finished';
      if (r.attempts >= maxAttempts) {
        const why = `${reason} (taken ${r.attempts} times, the limit)`.slice(0, 2000);
        await q.query(`UPDATE ${table} SET status = 'failed', reason = $${keyParams.length + 1}, lease_owner = NULL, lease_until = NULL, updated_at = date_trunc('milliseconds', now()) WHERE ${key}`, [...keyParams, why]);
        if (job.kind === 'prove') await q.query('DELETE FROM proof_requests WHERE proof_id = $1', [job.id]);
        return 'failed';
      }
      await q.query(
        `UPDATE ${table} SET status = 'queued', ${job.kind === 'prove' ? "stage = 'queued', " : ''}lease_owner = NULL, lease_until = now() + ($${keyParams.length + 1}::int * interval '1 millisecond'), updated_at = date_trunc('milliseconds', now()) WHERE ${key}`,
        [...keyParams, retryInMs],
      );
      return 'requeued' as const;
    });
    if (outcome === 'failed' && job.kind === 'prove') await this.requestKeys.erase(job.id);
    return outcome;
  }

  /** Jobs whose lease ran out (their dispatcher died); with `all`, every running job (this process owns the store). */
  async expiredLeases(all: boolean): Promise<ClaimedJob[]> {
    const cond = all ? 'lease_owner IS NOT NULL' : 'lease_until < now()';
    const m = await this.db.query<{ tenant: string; id: string }>(`SELECT tenant, id FROM models WHERE status = 'compiling' AND ${cond} LIMIT 500`);
    const p = await this.db.query<{ id: string }>(`SELECT id FROM proofs WHERE status = 'proving' AND ${cond} LIMIT 500`);
    return [...m.map((r) => ({ kind: 'compile' as const, tenant: r.tenant, id: r.id })), ...p.map((r) => ({ kind: 'prove' as const, id: r.id }))];
  }

  // ---- workers ----

  async heartbeat(worker: string, kind: string): Promise<void> {
    await this.db.query('INSERT INTO worker_heartbeats (worker, kind, seen_at) VALUES ($1, $2, now()) ON CONFLICT (worker) DO UPDATE SET seen_at = now(), kind = $2', [worker, kind]);
  }

  async forgetWorker(worker: string): Promise<void> {
    await this.db.query('DELETE FROM worker_heartbeats WHERE worker = $1', [worker]);
  }

  /** Milliseconds since the most recent heartbeat of any worker; null if none ever beat. */
  async heartbeatAgeMs(): Promise<number | null> {
    const [r] = await this.db.query<{ age: number | null }>('SELECT (extract(epoch FROM now() - max(seen_at)) * 1000)::float8 AS age FROM worker_heartbeats');
    return r?.age ?? null;
  }
}

export type { Sql };
