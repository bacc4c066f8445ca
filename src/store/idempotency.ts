import type { Db, Sql } from './db.ts';

/** The proof an idempotency key is bound to, with the fingerprint of the payload it was bound with, and its status. */
export interface BoundKey {
  proofId: string;
  payloadHash: string;
  status: string;
}

/**
 * The idempotency_keys table: a (tenant, key) bound to the first proof accepted with it.
 * The binding is written inside the acceptance's transaction (see Proofs.accept).
 */
export class IdempotencyKeys {
  constructor(private readonly db: Db) {}

  /**
   * Binds the key to `proofId` inside the caller's transaction; false when it is already
   * bound. Of concurrent requests with one key, one inserts; the others wait for it to
   * commit and find the key taken.
   */
  static async bind(q: Sql, tenant: string, key: string, payloadHash: string, proofId: string): Promise<boolean> {
    const bound = await q.query(
      'INSERT INTO idempotency_keys (tenant, key, payload_hash, proof_id) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING proof_id',
      [tenant, key, payloadHash, proofId],
    );
    return bound.length > 0;
  }

  /** The proof a key is bound to, or null. */
  async bound(tenant: string, key: string): Promise<BoundKey | null> {
    const [r] = await this.db.query<{ proof_id: string; payload_hash: string; status: string }>(
      'SELECT k.proof_id, k.payload_hash, p.status FROM idempotency_keys k JOIN proofs p ON p.id = k.proof_id WHERE k.tenant = $1 AND k.key = $2',
      [tenant, key],
    );
    return r ? { proofId: r.proof_id, payloadHash: r.payload_hash, status: r.status } : null;
  }

  /** Forgets keys older than `ttlMs`; returns how many. */
  async prune(ttlMs: number): Promise<number> {
    return (await this.db.query("DELETE FROM idempotency_keys WHERE created_at < now() - ($1::bigint * interval '1 millisecond') RETURNING 1", [ttlMs])).length;
  }
}
