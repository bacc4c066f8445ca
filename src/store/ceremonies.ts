import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Db, Sql } from './db.ts';
import { artifactStore } from '../core/artifact-store.ts';
import { artifactDir } from '../core/artifacts.ts';
import { iso } from './rows.ts';
import { insertVersion, type NewVersion } from './versions.ts';

/**
 * Where a ceremony key lives: content-addressed by its sha256, beside the circuit it is for
 * (artifacts/circuits/<circuit hash>/ceremony-<ptau sha256 prefix>/<zkey sha256>.zkey).
 */
export function ceremonyKeyFile(circuitHash: string, ptauSha256: string, zkeySha256: string): string {
  if (!/^[0-9a-f]{64}$/.test(zkeySha256)) throw new Error(`not a sha256: ${zkeySha256}`);
  return path.join(artifactDir('circuit', circuitHash), `ceremony-${ptauSha256.slice(0, 16)}`, `${zkeySha256}.zkey`);
}

/** A shared store: a ceremony key and its circuit (made on other nodes) into this node's folder, checked by hash. */
export async function fetchCeremonyFiles(circuitHash: string, ptauSha256: string, zkeySha256: string): Promise<void> {
  await artifactStore().fetch(ceremonyKeyFile(circuitHash, ptauSha256, zkeySha256));
  await artifactStore().materialize(artifactDir('circuit', circuitHash));
}

/** Deletes a ceremony key no record names, here and in a shared store. */
export async function dropCeremonyKey(file: string): Promise<void> {
  await rm(file, { force: true });
  await artifactStore().remove(file);
}

export interface CeremonyPtau {
  kind: string;
  name: string;
  power: number;
  sha256: string;
}

/** What a version made by this ceremony will hold besides its key, from the compile. */
export type PendingVersion = Omit<NewVersion, 'vkey' | 'vkeyHash' | 'setup'> & { wasmSha256: string; insecure: boolean };

export interface CeremonyStart {
  circuitHash: string;
  r1csSha256: string;
  csHash: string;
  ptau: CeremonyPtau;
  /** sha256 of the initial key (no contribution). */
  baseSha256: string;
  pending: PendingVersion;
}

export interface CeremonyContributionRow {
  index: number;
  name: string;
  hash: string;
  baseSha256: string;
  zkeySha256: string;
  uploadedBy: string;
  checkMs: number;
  createdAt: string;
}

/** A reset of an open ceremony to its initial key: what it dropped, who did it and why. */
export interface CeremonyResetRow {
  n: number;
  fromSha256: string;
  contributions: CeremonyContributionRow[];
  resetBy: string;
  reason: string;
  createdAt: string;
}

export interface CeremonyRow extends CeremonyStart {
  tenant: string;
  modelId: string;
  state: 'open' | 'finalized';
  currentSha256: string;
  contributions: CeremonyContributionRow[];
  /** Resets so far, oldest first. */
  resets: CeremonyResetRow[];
  beacon: { hash: string; iterationsExp: number; contributionHash: string; finalZkeySha256: string } | null;
  version: number | null;
  createdAt: string;
  updatedAt: string;
}

export type AcceptOutcome = { kind: 'accepted'; index: number } | { kind: 'moved'; current: string } | { kind: 'finalized' } | { kind: 'missing' };

/**
 * A model's phase-2 ceremony in the records. The current key is named by its sha256; every
 * change to it (a contribution, the beacon) is a compare-and-set on that sha256 inside a
 * transaction holding the ceremony row: of two uploads on one base, one wins.
 */
export class Ceremonies {
  constructor(private readonly db: Db) {}

  async start(tenant: string, modelId: string, c: CeremonyStart): Promise<void> {
    await this.db.tx(async (q) => {
      await q.query(
        `INSERT INTO ceremonies (tenant, model_id, state, circuit_hash, r1cs_sha256, cs_hash, ptau, base_sha256, current_sha256, pending)
         VALUES ($1, $2, 'open', $3, $4, $5, $6::jsonb, $7, $7, $8::jsonb) ON CONFLICT (tenant, model_id) DO NOTHING`,
        [tenant, modelId, c.circuitHash, c.r1csSha256, c.csHash, JSON.stringify(c.ptau), c.baseSha256, JSON.stringify(c.pending)],
      );
      await q.query(
        `UPDATE models SET status = 'ceremony', reason = NULL, lease_owner = NULL, lease_until = NULL, updated_at = date_trunc('milliseconds', now())
         WHERE tenant = $1 AND id = $2 AND status IN ('queued', 'compiling')`,
        [tenant, modelId],
      );
    });
  }

  async get(tenant: string, modelId: string): Promise<CeremonyRow | null> {
    const [r] = await this.db.query<Record<string, any>>('SELECT * FROM ceremonies WHERE tenant = $1 AND model_id = $2', [tenant, modelId]);
    if (!r) return null;
    const rows = await this.db.query<Record<string, any>>('SELECT * FROM ceremony_contributions WHERE tenant = $1 AND model_id = $2 ORDER BY idx', [
      tenant,
      modelId,
    ]);
    const resets = await this.db.query<Record<string, any>>('SELECT * FROM ceremony_resets WHERE tenant = $1 AND model_id = $2 ORDER BY n', [tenant, modelId]);
    return {
      tenant: r.tenant,
      modelId: r.model_id,
      state: r.state,
      circuitHash: r.circuit_hash,
      r1csSha256: r.r1cs_sha256,
      csHash: r.cs_hash,
      ptau: r.ptau,
      baseSha256: r.base_sha256,
      currentSha256: r.current_sha256,
      pending: r.pending,
      beacon: r.beacon ?? null,
      version: r.version ?? null,
      createdAt: iso(r.created_at),
      updatedAt: iso(r.updated_at),
      contributions: rows.map(contributionRow),
      resets: resets.map((x) => ({
        n: x.n,
        fromSha256: x.from_sha256,
        contributions: x.contributions,
        resetBy: x.reset_by,
        reason: x.reason,
        createdAt: iso(x.created_at),
      })),
    };
  }

  /** Records a checked contribution if the ceremony's current key is still `base` (else says what it is now). */
  async accept(tenant: string, modelId: string, base: string, c: Omit<CeremonyContributionRow, 'index' | 'baseSha256' | 'createdAt'>): Promise<AcceptOutcome> {
    return this.db.tx(async (q) => {
      const r = await lockOpen(q, tenant, modelId, base);
      if ('kind' in r) return r;
      const index = r.contributions + 1;
      await q.query(
        `INSERT INTO ceremony_contributions (tenant, model_id, idx, name, hash, base_sha256, zkey_sha256, uploaded_by, ` +
          `check_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [tenant, modelId, index, c.name, c.hash, base, c.zkeySha256, c.uploadedBy, Math.round(c.checkMs)],
      );
      await q.query(
        "UPDATE ceremonies SET current_sha256 = $3, contributions = $4, updated_at = date_trunc('milliseconds', now()) WHERE tenant = $1 AND model_id = $2",
        [tenant, modelId, c.zkeySha256, index],
      );
      return { kind: 'accepted', index } as const;
    });
  }

  /**
   * Closes the ceremony if its current key is still `base`: the version (the final key) is
   * inserted, the model is ready and the ceremony finalized, in one transaction.
   */
  async finalize(
    tenant: string,
    modelId: string,
    base: string,
    beacon: NonNullable<CeremonyRow['beacon']>,
    v: NewVersion,
  ): Promise<AcceptOutcome | { kind: 'finalized-now'; version: number }> {
    return this.db.tx(async (q) => {
      const r = await lockOpen(q, tenant, modelId, base);
      if ('kind' in r) return r;
      await q.query('SELECT 1 FROM models WHERE tenant = $1 AND id = $2 FOR UPDATE', [tenant, modelId]);
      const [{ n }] = await q.query<{ n: number }>('SELECT coalesce(max(version), 0)::int AS n FROM model_versions WHERE tenant = $1 AND model_id = $2', [
        tenant,
        modelId,
      ]);
      const version = n + 1;
      await insertVersion(q, tenant, modelId, version, v);
      await q.query(
        "UPDATE models SET status = 'ready', reason = NULL, lease_owner = NULL, lease_until = NULL, updated_at = " +
          "date_trunc('milliseconds', now()) WHERE tenant = $1 AND id = $2",
        [tenant, modelId],
      );
      await q.query(
        "UPDATE ceremonies SET state = 'finalized', beacon = $3::jsonb, version = $4, current_sha256 = $5, updated_at = " +
          "date_trunc('milliseconds', now()) WHERE tenant = $1 AND model_id = $2",
        [tenant, modelId, JSON.stringify(beacon), version, beacon.finalZkeySha256],
      );
      return { kind: 'finalized-now', version } as const;
    });
  }

  /**
   * Puts an open ceremony back on its initial key if its current key is still `base`: the
   * contributions are dropped from the chain and recorded with the reset (who, why, from
   * which key), in one transaction. A finalized ceremony is never reset (it made a version).
   */
  async reset(
    tenant: string,
    modelId: string,
    base: string,
    by: string,
    reason: string,
  ): Promise<AcceptOutcome | { kind: 'empty' } | { kind: 'reset'; n: number; dropped: CeremonyContributionRow[] }> {
    return this.db.tx(async (q) => {
      const r = await lockOpen(q, tenant, modelId, base);
      if ('kind' in r) return r;
      if (r.current_sha256 === r.base_sha256) return { kind: 'empty' } as const;
      const rows = await q.query<Record<string, any>>('SELECT * FROM ceremony_contributions WHERE tenant = $1 AND model_id = $2 ORDER BY idx', [
        tenant,
        modelId,
      ]);
      const dropped = rows.map(contributionRow);
      const [{ n }] = await q.query<{ n: number }>('SELECT coalesce(max(n), 0)::int + 1 AS n FROM ceremony_resets WHERE tenant = $1 AND model_id = $2', [
        tenant,
        modelId,
      ]);
      await q.query(
        'INSERT INTO ceremony_resets (tenant, model_id, n, from_sha256, contributions, reset_by, reason) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)',
        [tenant, modelId, n, r.current_sha256, JSON.stringify(dropped), by, reason],
      );
      await q.query('DELETE FROM ceremony_contributions WHERE tenant = $1 AND model_id = $2', [tenant, modelId]);
      await q.query(
        "UPDATE ceremonies SET current_sha256 = base_sha256, contributions = 0, updated_at = date_trunc('milliseconds', " +
          'now()) WHERE tenant = $1 AND model_id = $2',
        [tenant, modelId],
      );
      return { kind: 'reset', n, dropped } as const;
    });
  }

  /** Whether any ceremony refers to this key (a refused or losing upload's file may then go). */
  async keyInUse(zkeySha256: string): Promise<boolean> {
    const rows = await this.db.query(
      'SELECT 1 FROM ceremonies WHERE base_sha256 = $1 OR current_sha256 = $1 UNION ALL SELECT 1 FROM ceremony_contributions WHERE zkey_sha256 = $1 LIMIT 1',
      [zkeySha256],
    );
    return rows.length > 0;
  }
}

/**
 * Locks an open ceremony's row for a change that must start from its current key `base`:
 * the row, or why the change cannot be made (no ceremony, finalized, or moved on since).
 */
async function lockOpen(
  q: Sql,
  tenant: string,
  modelId: string,
  base: string,
): Promise<{ current_sha256: string; base_sha256: string; contributions: number } | AcceptOutcome> {
  const [r] = await q.query<{ state: string; current_sha256: string; base_sha256: string; contributions: number }>(
    'SELECT state, current_sha256, base_sha256, contributions FROM ceremonies WHERE tenant = $1 AND model_id = $2 FOR UPDATE',
    [tenant, modelId],
  );
  if (!r) return { kind: 'missing' };
  if (r.state !== 'open') return { kind: 'finalized' };
  if (r.current_sha256 !== base) return { kind: 'moved', current: r.current_sha256 };
  return r;
}

/** A contribution as its table holds it. */
function contributionRow(c: Record<string, any>): CeremonyContributionRow {
  return {
    index: c.idx,
    name: c.name,
    hash: c.hash,
    baseSha256: c.base_sha256,
    zkeySha256: c.zkey_sha256,
    uploadedBy: c.uploaded_by,
    checkMs: c.check_ms,
    createdAt: iso(c.created_at),
  };
}
