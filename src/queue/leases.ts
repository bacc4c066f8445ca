import type { Db } from '../store/db.ts';
import type { RequestKeyStore } from '../store/request-keys.ts';

/** Serializes compile claims (per-tenant limits are counted, then taken, under it). */
const COMPILE_CLAIM_LOCK = 'zkinfer-compile-claim';

/** A job the embedded queue handed to this process's worker. */
export type ClaimedJob = { kind: 'compile'; tenant: string; id: string } | { kind: 'prove'; id: string };

/**
 * The embedded queue's jobs are the records' rows, taken with a lease (lease_owner,
 * lease_until); a BullMQ worker marks a compile it starts here too, so the per-tenant
 * compile limit holds for both backends.
 */
export class Leases {
  constructor(
    private readonly db: Db,
    /** The private requests' keys: a proof failed here loses its request. */
    private readonly requestKeys: RequestKeyStore,
  ) {}

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
      const [{ n }] = await q.query<{ n: number }>("SELECT count(*)::int AS n FROM models WHERE tenant = $1 AND id <> $2 AND status = 'compiling'", [
        tenant,
        id,
      ]);
      if (n >= perTenant) return false;
      await q.query(
        "UPDATE models SET status = 'compiling', claimed_at = clock_timestamp(), updated_at = date_trunc('milliseconds', " +
          "now()) WHERE tenant = $1 AND id = $2 AND status IN ('queued', 'compiling')",
        [tenant, id],
      );
      return true;
    });
  }

  /** Takes the oldest queued proof with a lease. */
  async claimProve(owner: string, leaseMs: number): Promise<ClaimedJob | null> {
    const [p] = await this.db.query<{ id: string }>(
      `UPDATE proofs SET status = 'proving', lease_owner = $1, lease_until = now() + ($2::int * interval '1 ` +
        `millisecond'), attempts = attempts + 1, updated_at = date_trunc('milliseconds', now())
       WHERE id = (SELECT id FROM proofs WHERE status = 'queued' AND (lease_until IS NULL OR lease_until < now()) ` +
        `ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
       RETURNING id`,
      [owner, leaseMs],
    );
    return p ? { kind: 'prove', id: p.id } : null;
  }

  async renew(job: ClaimedJob, owner: string, leaseMs: number): Promise<void> {
    if (job.kind === 'compile') {
      await this.db.query("UPDATE models SET lease_until = now() + ($4::int * interval '1 millisecond') WHERE tenant = $1 AND id = $2 AND lease_owner = $3", [
        job.tenant,
        job.id,
        owner,
        leaseMs,
      ]);
    } else {
      await this.db.query("UPDATE proofs SET lease_until = now() + ($3::int * interval '1 millisecond') WHERE id = $1 AND lease_owner = $2", [
        job.id,
        owner,
        leaseMs,
      ]);
    }
  }

  /**
   * A job whose worker stopped without finishing it (an error worth retrying, or the
   * process died): queued again after `retryInMs`, or failed with `reason` once it has
   * been taken `maxAttempts` times. Finished records are left alone. With `refund`, the take
   * is not counted (the job met an unavailable dependency, which says nothing about it).
   */
  async release(
    job: ClaimedJob,
    owner: string | null,
    reason: string,
    maxAttempts: number,
    retryInMs: number,
    refund = false,
  ): Promise<'requeued' | 'failed' | 'finished'> {
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
        // maxAttempts 0: failed for a reason of its own (an outage past its budget), not for its takes.
        const why = (maxAttempts === 0 ? reason : `${reason} (taken ${r.attempts} times, the limit)`).slice(0, 2000);
        await q.query(
          `UPDATE ${table} SET status = 'failed', reason = $${keyParams.length + 1}, lease_owner = NULL, lease_until = NULL, ` +
            `updated_at = date_trunc('milliseconds', now()) WHERE ${key}`,
          [...keyParams, why],
        );
        if (job.kind === 'prove') await q.query('DELETE FROM proof_requests WHERE proof_id = $1', [job.id]);
        return 'failed';
      }
      await q.query(
        `UPDATE ${table} SET status = 'queued', ${job.kind === 'prove' ? "stage = 'queued', " : ''}lease_owner = NULL, ` +
          `${refund ? 'attempts = greatest(0, attempts - 1), ' : ''}` +
          `lease_until = now() + ($${keyParams.length + 1}::int * interval '1 millisecond'), updated_at = ` +
          `date_trunc('milliseconds', now()) WHERE ${key}`,
        [...keyParams, retryInMs],
      );
      return 'requeued' as const;
    });
    if (outcome === 'failed' && job.kind === 'prove') await this.requestKeys.erase(job.id);
    return outcome;
  }

  /** Jobs whose lease ran out (their dispatcher died); with `all`, every running job (this process owns the store). */
  async expired(all: boolean): Promise<ClaimedJob[]> {
    const cond = all ? 'lease_owner IS NOT NULL' : 'lease_until < now()';
    const m = await this.db.query<{ tenant: string; id: string }>(`SELECT tenant, id FROM models WHERE status = 'compiling' AND ${cond} LIMIT 500`);
    const p = await this.db.query<{ id: string }>(`SELECT id FROM proofs WHERE status = 'proving' AND ${cond} LIMIT 500`);
    return [...m.map((r) => ({ kind: 'compile' as const, tenant: r.tenant, id: r.id })), ...p.map((r) => ({ kind: 'prove' as const, id: r.id }))];
  }
}
