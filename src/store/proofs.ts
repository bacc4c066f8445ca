import type { Db } from './db.ts';
import { IdempotencyKeys } from './idempotency.ts';
import { type ModelRecord, Models } from './models.ts';
import { isSealed, RequestKeys, type RequestKeyStore } from './request-keys.ts';
import { CURSOR_PARTS, decodeCursor, encodeCursor, iso, json, type Page } from './rows.ts';

export type ProofStatus = 'queued' | 'proving' | 'done' | 'failed';

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
  /** Prover-side notes, not proven (ProveResult.warnings). */
  warnings?: string[];
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

export type AcceptResult = { kind: 'accepted'; proofId: string } | { kind: 'existing'; proofId: string; payloadHash: string; status: ProofStatus };

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
    ...(Array.isArray(r.warnings) && r.warnings.length ? { warnings: r.warnings } : {}),
    attempts: r.attempts,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

const PROOF_COLUMNS = 'id, tenant, model_id, model_version, status, reason, stage, timings, worker, warnings, attempts, created_at, updated_at';

class IdempotencyTaken extends Error {}

/**
 * The proofs table and the private requests (proof_requests) that wait with them. A 202 is
 * a promise: the record, its sealed request and its idempotency key commit together.
 */
export class Proofs {
  /** Private requests are sealed under per-request keys kept in these files (see request-keys.ts). */
  readonly requestKeys: RequestKeyStore;
  private readonly models: Models;
  private readonly idempotency: IdempotencyKeys;
  constructor(
    private readonly db: Db,
    opts: { requestKeys?: RequestKeyStore } = {},
  ) {
    this.requestKeys = opts.requestKeys ?? new RequestKeys();
    this.models = new Models(db);
    this.idempotency = new IdempotencyKeys(db);
  }

  /**
   * Accepts a proof request: the record, its private request and its idempotency key
   * commit together or not at all. With a key already bound, nothing is written and the
   * bound proof is returned.
   */
  async accept(p: {
    id: string;
    tenant: string;
    modelId: string;
    request: ProofRequestSecret;
    idempotency?: { key: string; payloadHash: string };
  }): Promise<AcceptResult> {
    // The key file is on disk before the commit; if the commit does not happen it goes.
    const sealed = await this.requestKeys.seal(p.id, p.request);
    let committed = false;
    try {
      await this.db.tx(async (q) => {
        await q.query(`INSERT INTO proofs (id, tenant, model_id, status, stage) VALUES ($1, $2, $3, 'queued', 'queued')`, [p.id, p.tenant, p.modelId]);
        await q.query('INSERT INTO proof_requests (proof_id, body) VALUES ($1, $2::jsonb)', [p.id, json(sealed)]);
        // A key already bound rolls back everything this request wrote.
        if (p.idempotency && !(await IdempotencyKeys.bind(q, p.tenant, p.idempotency.key, p.idempotency.payloadHash, p.id))) throw new IdempotencyTaken();
      });
      committed = true;
      return { kind: 'accepted', proofId: p.id };
    } catch (e) {
      if (!(e instanceof IdempotencyTaken)) throw e;
      const r = await this.idempotency.bound(p.tenant, p.idempotency!.key);
      if (!r) throw new Error('idempotency key vanished while it was read');
      return { kind: 'existing', proofId: r.proofId, payloadHash: r.payloadHash, status: r.status as ProofStatus };
    } finally {
      if (!committed) await this.requestKeys.erase(p.id).catch(() => {});
    }
  }

  /**
   * A proof failed by an outage, asked for again with its Idempotency-Key: queued again under
   * the same id with the request just sent (the failure deleted the first one), attempts
   * reset. False when the record is no longer failed (another resend took it first).
   */
  async requeueFailed(id: string, request: ProofRequestSecret): Promise<boolean> {
    const sealed = await this.requestKeys.seal(id, request);
    let requeued = false;
    try {
      requeued = await this.db.tx(async (q) => {
        const rows = await q.query(
          `UPDATE proofs SET status = 'queued', stage = 'queued', reason = NULL, attempts = 0, handed_at = NULL, lease_owner = NULL, ` +
            `lease_until = NULL, updated_at = date_trunc('milliseconds', now()) WHERE id = $1 AND status = 'failed' RETURNING id`,
          [id],
        );
        if (!rows.length) return false;
        await q.query('INSERT INTO proof_requests (proof_id, body) VALUES ($1, $2::jsonb) ON CONFLICT (proof_id) DO UPDATE SET body = EXCLUDED.body', [
          id,
          json(sealed),
        ]);
        return true;
      });
      return requeued;
    } finally {
      if (!requeued) await this.requestKeys.erase(id).catch(() => {});
    }
  }

  async get(id: string): Promise<ProofRecord | null> {
    if (!/^[0-9a-f-]{36}$/.test(id)) return null;
    const [r] = await this.db.query(`SELECT ${PROOF_COLUMNS} FROM proofs WHERE id = $1`, [id]);
    return r ? proofRow(r) : null;
  }

  async hasRequest(id: string): Promise<boolean> {
    return (await this.db.query('SELECT 1 FROM proof_requests WHERE proof_id = $1', [id])).length > 0;
  }

  /** One page of proofs, newest first, read through the (tenant, model, created_at) indexes. */
  async list(filter: { tenant?: string; modelId?: string; limit: number; cursor?: string }): Promise<Page<ProofRecord>> {
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
  async job(id: string): Promise<{ proof: ProofRecord; model: ModelRecord | null; request: ProofRequestSecret | null } | null> {
    const proof = await this.get(id);
    if (!proof) return null;
    const model = await this.models.get(proof.tenant, proof.modelId);
    const [req] = await this.db.query<{ body: unknown }>('SELECT body FROM proof_requests WHERE proof_id = $1', [id]);
    // A request whose key is gone (or that does not open) is missing: the proof fails.
    const request = !req ? null : isSealed(req.body) ? await this.requestKeys.open<ProofRequestSecret>(id, req.body) : (req.body as ProofRequestSecret);
    return { proof, model, request };
  }

  async setStage(id: string, status: 'queued' | 'proving', stage: string): Promise<void> {
    await this.db.query(
      "UPDATE proofs SET status = $2, stage = $3, updated_at = date_trunc('milliseconds', now()) WHERE id = $1 AND status IN ('queued', 'proving')",
      [id, status, stage],
    );
  }

  /** Done: the record says so and the private request is gone, in one transaction. */
  async finish(id: string, r: { modelVersion: number; timings: ProofTimingsRecord; worker: string; warnings?: string[] }): Promise<void> {
    await this.db.tx(async (q) => {
      await q.query(
        `UPDATE proofs SET status = 'done', stage = 'stored', reason = NULL, model_version = $2, timings = $3::jsonb, ` +
          `worker = $4, warnings = $5::jsonb, lease_owner = NULL, lease_until = NULL,
           updated_at = date_trunc('milliseconds', now()) WHERE id = $1`,
        [id, r.modelVersion, json(r.timings), r.worker, r.warnings?.length ? json(r.warnings) : null],
      );
      await q.query('DELETE FROM proof_requests WHERE proof_id = $1', [id]);
    });
    await this.requestKeys.erase(id);
  }

  /** Failed, with the reason; the private request is deleted in the same transaction. Done stays done. */
  async fail(id: string, reason: string): Promise<void> {
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
}
