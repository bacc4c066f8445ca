import type { ExplainSettings, QuantSettings } from '../quant/index.ts';
import type { InputQuant } from '../fixed/input-quant.ts';
import type { StageEvent } from '../core/progress.ts';
import type { Db } from './db.ts';
import { CURSOR_PARTS, decodeCursor, encodeCursor, iso, json, type Page } from './rows.ts';

/** 'ceremony': compiled, its phase-2 ceremony open (no key yet: no proofs until it is finalized). */
export type ModelStatus = 'queued' | 'compiling' | 'ceremony' | 'ready' | 'failed';
/** Who makes the phase-2 key: the service alone (a contribution and a beacon), or a ceremony over REST. */
export type SetupMode = 'service' | 'ceremony';

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
  /** A private model's secret blinding value (decimal): never served, only compiled and proved with. */
  blinding?: string | null;
  /** Proven reasons and fairness fixed at upload (the descriptor's `explain`; null: none). */
  explain?: ExplainSettings | null;
  /** The stages its last compile and setup passed, in order (the last: where it is now while compiling). */
  progress?: StageEvent[];
  attempts: number;
  createdAt: string;
  updatedAt: string;
}

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
    ...(r.blinding ? { blinding: r.blinding } : {}),
    ...(r.explain ? { explain: explainRow(r.explain) } : {}),
    ...(r.progress ? { progress: r.progress } : {}),
    attempts: r.attempts,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

/** jsonb reorders object keys; the model id hashes the explain settings' JSON text, so they are rebuilt in explainSettingsOf's order. */
function explainRow(e: Record<string, any>): ExplainSettings {
  return {
    reasons: e.reasons,
    features: e.features.map((f: ExplainSettings['features'][number]) => ({ name: f.name, start: f.start, size: f.size })),
    baseline: e.baseline,
    protected: e.protected.map((p: ExplainSettings['protected'][number]) => ({ feature: p.feature, values: p.values })),
  };
}

const MODEL_COLUMNS =
  'tenant, id, status, reason, file_name, external_files, settings, public_input, input_quant, labels, blinding, explain, progress, setup, attempts, ' +
  'created_at, updated_at';

/**
 * The models table: one row per (tenant, model), in one SQL dialect for PostgreSQL and
 * PGlite. Timestamps are returned as ISO strings.
 */
export class Models {
  constructor(private readonly db: Db) {}

  async get(tenant: string, id: string): Promise<ModelRecord | null> {
    const [r] = await this.db.query(`SELECT ${MODEL_COLUMNS} FROM models WHERE tenant = $1 AND id = $2`, [tenant, id]);
    return r ? modelRow(r) : null;
  }

  /** The tenants that registered model `id` (a content hash: the same upload may have several). */
  async tenants(id: string): Promise<string[]> {
    return (await this.db.query<{ tenant: string }>('SELECT tenant FROM models WHERE id = $1 ORDER BY created_at', [id])).map((r) => r.tenant);
  }

  /**
   * Registers a model for a tenant, or gives a failed one another go. Returns the record
   * and whether a compile job is due.
   */
  async register(
    m: Pick<ModelRecord, 'tenant' | 'id' | 'fileName' | 'externalFiles' | 'settings' | 'publicInput' | 'inputQuant' | 'labels' | 'blinding' | 'explain'> & {
      setup?: SetupMode;
      /** The upload's calibration rows (flat input vectors), for the fidelity report; never served. */
      calibration?: number[][] | null;
    },
  ): Promise<{ model: ModelRecord; enqueue: boolean }> {
    const rows = await this.db.query(
      `INSERT INTO models (tenant, id, status, file_name, external_files, settings, public_input, input_quant, labels, setup, blinding, calibration, explain)
       VALUES ($1, $2, 'queued', $3, $4::jsonb, $5::jsonb, $6, $7::jsonb, $8::jsonb, $9, $10, $11::jsonb, $12::jsonb)
       ON CONFLICT (tenant, id) DO UPDATE SET status = 'queued', reason = NULL, attempts = 0, handed_at = NULL, ` +
        `lease_owner = NULL, lease_until = NULL, setup = $9, calibration = $11::jsonb, updated_at = date_trunc('milliseconds', now())
         WHERE models.status = 'failed'
       RETURNING ${MODEL_COLUMNS}`,
      [
        m.tenant,
        m.id,
        m.fileName,
        json(m.externalFiles),
        json(m.settings),
        m.publicInput,
        m.inputQuant ? json(m.inputQuant) : null,
        m.labels ? json(m.labels) : null,
        m.setup ?? 'service',
        m.blinding ?? null,
        m.calibration?.length ? json(m.calibration) : null,
        m.explain ? json(m.explain) : null,
      ],
    );
    if (rows.length) return { model: modelRow(rows[0]), enqueue: true };
    return { model: (await this.get(m.tenant, m.id))!, enqueue: false };
  }

  /** The calibration rows the tenant uploaded with the model (null: none were given). */
  async calibration(tenant: string, id: string): Promise<number[][] | null> {
    const [r] = await this.db.query<{ calibration: number[][] | null }>('SELECT calibration FROM models WHERE tenant = $1 AND id = $2', [tenant, id]);
    return r?.calibration ?? null;
  }

  /** Drops the calibration rows once a compile has run its fidelity report on them (or failed for good). */
  async dropCalibration(tenant: string, id: string): Promise<void> {
    await this.db.query('UPDATE models SET calibration = NULL WHERE tenant = $1 AND id = $2 AND calibration IS NOT NULL', [tenant, id]);
  }

  async setStatus(tenant: string, id: string, status: ModelStatus, reason?: string): Promise<void> {
    const releaseLease = status === 'ready' || status === 'failed' ? ', lease_owner = NULL, lease_until = NULL' : '';
    // A compile (re)starts: its stages are recorded afresh.
    const resetProgress = status === 'compiling' ? ", progress = '[]'::jsonb" : '';
    await this.db.query(
      `UPDATE models SET status = $3, reason = $4, updated_at = date_trunc('milliseconds', now())${releaseLease}${resetProgress}
       WHERE tenant = $1 AND id = $2`,
      [tenant, id, status, reason ?? null],
    );
  }

  /** Appends a stage its compile or setup reached (reset when the next compile starts). */
  async addStage(tenant: string, id: string, e: StageEvent): Promise<void> {
    await this.db.query("UPDATE models SET progress = COALESCE(progress, '[]'::jsonb) || jsonb_build_array($3::jsonb) WHERE tenant = $1 AND id = $2", [
      tenant,
      id,
      JSON.stringify(e),
    ]);
  }

  /** Failed with `reason`, if it still waited for its job (queued or compiling). */
  async fail(tenant: string, id: string, reason: string): Promise<void> {
    await this.db.query(
      "UPDATE models SET status = 'failed', reason = $3, lease_owner = NULL, lease_until = NULL, updated_at = " +
        "date_trunc('milliseconds', now()) WHERE tenant = $1 AND id = $2 AND status IN ('queued', 'compiling')",
      [tenant, id, reason.slice(0, 2000)],
    );
  }

  /** Models a caller may list: one tenant's, or all; keyset pages in (tenant, id) order. */
  async list(filter: { tenant?: string; limit: number; cursor?: string }): Promise<Page<ModelRecord>> {
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
}
