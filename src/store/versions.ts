import type { VerificationKey } from 'snarkjs';
import type { LayerPlan } from '../circuit/index.ts';
import type { BundleModel } from '../bundle/descriptor.ts';
import type { SetupProvenance } from '../bundle/format.ts';
import type { FidelityReport } from '../quant/index.ts';
import type { Db, Sql } from './db.ts';
import { iso, json } from './rows.ts';

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

/** Inserts key version `version` of a model, ready (inside the caller's transaction). */
export async function insertVersion(q: Sql, tenant: string, modelId: string, version: number, v: NewVersion): Promise<void> {
  await q.query(
    `INSERT INTO model_versions (tenant, model_id, version, status, circuit_hash, circuit_source_sha256, commitment, ` +
      `descriptor, summary, vkey, vkey_hash, setup, constraints, layers, fidelity)
     VALUES ($1, $2, $3, 'ready', $4, $5, $6, $7::jsonb, $8::jsonb, $9::jsonb, $10, $11::jsonb, $12, $13::jsonb, $14::jsonb)`,
    [
      tenant,
      modelId,
      version,
      v.circuitHash,
      v.circuitSourceSha256,
      v.commitment,
      json(v.descriptor),
      json(v.summary),
      json(v.vkey),
      v.vkeyHash,
      json(v.setup),
      v.constraints,
      json(v.layers),
      v.fidelity === null ? null : json(v.fidelity),
    ],
  );
}

/** The model_versions table: the immutable keys of each model, numbered per (tenant, model). */
export class Versions {
  constructor(private readonly db: Db) {}

  async list(tenant: string, modelId: string): Promise<ModelVersion[]> {
    return (await this.db.query('SELECT * FROM model_versions WHERE tenant = $1 AND model_id = $2 ORDER BY version', [tenant, modelId])).map(versionRow);
  }

  /** Version `version` of a model, or (without one) its latest ready version. */
  async get(tenant: string, modelId: string, version?: number): Promise<ModelVersion | null> {
    const [r] =
      version === undefined
        ? await this.db.query("SELECT * FROM model_versions WHERE tenant = $1 AND model_id = $2 AND status = 'ready' ORDER BY version DESC LIMIT 1", [
            tenant,
            modelId,
          ])
        : await this.db.query('SELECT * FROM model_versions WHERE tenant = $1 AND model_id = $2 AND version = $3', [tenant, modelId, version]);
    return r ? versionRow(r) : null;
  }

  latest(tenant: string, modelId: string): Promise<ModelVersion | null> {
    return this.get(tenant, modelId);
  }

  /**
   * The version for what a worker just compiled and set up: the latest one when its circuit
   * and key are the same, else a new version (keys are never overwritten). Marks the model
   * ready in the same transaction.
   */
  async record(tenant: string, modelId: string, v: NewVersion): Promise<number> {
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
        "UPDATE models SET status = 'ready', reason = NULL, lease_owner = NULL, lease_until = NULL, updated_at = " +
          "date_trunc('milliseconds', now()) WHERE tenant = $1 AND id = $2",
        [tenant, modelId],
      );
      return version;
    });
  }

  /** Versions of a model (every tenant's) with this key hash, newest first. */
  async byKey(modelId: string, vkeyHash: string): Promise<ModelVersion[]> {
    return (
      await this.db.query("SELECT * FROM model_versions WHERE model_id = $1 AND vkey_hash = $2 AND status = 'ready' ORDER BY created_at DESC LIMIT 32", [
        modelId,
        vkeyHash,
      ])
    ).map(versionRow);
  }

  /** Versions of a model (any tenant's, or one tenant's), by number or by commitment, newest first, one per key. */
  async find(modelId: string, by: { version?: number; commitment?: string; tenant?: string }, limit = 4): Promise<ModelVersion[]> {
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
    const rows = (
      await this.db.query(`SELECT * FROM model_versions WHERE model_id = $1 AND status = 'ready'${cond} ORDER BY created_at DESC LIMIT 32`, params)
    ).map(versionRow);
    const seen = new Set<string>();
    return rows.filter((v) => !seen.has(v.vkeyHash) && seen.add(v.vkeyHash)).slice(0, limit);
  }
}
