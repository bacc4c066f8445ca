import type { Db } from '../store/db.ts';
import type { JobKind } from './types.ts';

/**
 * The records as the queue backends and the reconciler see them: a job is a record in
 * state queued, compiling or proving, handed to the backend once committed (handed_at).
 */
export class Outbox {
  constructor(private readonly db: Db) {}

  /** Records that are committed but not yet handed to the queue backend. */
  async unhanded(kind: JobKind, olderThanMs: number, limit: number): Promise<{ id: string; tenant: string }[]> {
    const table = kind === 'compile' ? 'models' : 'proofs';
    return this.db.query(
      `SELECT id, tenant FROM ${table} WHERE status = 'queued' AND handed_at IS NULL AND created_at < now() - ($1::int * ` +
        `interval '1 millisecond') ORDER BY created_at LIMIT $2`,
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
        await this.db.query(`UPDATE models SET checked_at = now() WHERE (tenant, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`, [
          rows.map((r) => r.tenant),
          rows.map((r) => r.id),
        ]);
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

  /** Counts of open jobs per kind, for /metrics. */
  async openCounts(): Promise<{ compile: number; prove: number }> {
    const [r] = await this.db.query<{ compile: number; prove: number }>(
      "SELECT (SELECT count(*)::int FROM models WHERE status IN ('queued', 'compiling')) AS compile, (SELECT " +
        "count(*)::int FROM proofs WHERE status IN ('queued', 'proving')) AS prove",
    );
    return r;
  }

  /** Compile jobs of a tenant not finished yet (queued or compiling). */
  async openCompiles(tenant: string): Promise<number> {
    const [{ n }] = await this.db.query<{ n: number }>("SELECT count(*)::int AS n FROM models WHERE tenant = $1 AND status IN ('queued', 'compiling')", [
      tenant,
    ]);
    return n;
  }
}
