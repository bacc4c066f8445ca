import { mkdir, readdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { LayerPlan } from '../circuit/index.ts';
import type { FidelityReport, QuantSettings } from '../quant/index.ts';
import type { SetupProvenance } from '../prover/setup.ts';
import { artifactRoot, exists } from './paths.ts';
import { readJson, writeJsonAtomic } from './json-file.ts';

export type ModelStatus = 'queued' | 'compiling' | 'ready' | 'failed';

/** What the service knows about a registered model (public: no private data in it). */
export interface ModelRecord {
  id: string;
  tenant: string;
  status: ModelStatus;
  reason?: string;
  fileName: string;
  externalFiles: string[];
  settings: QuantSettings;
  /** The quantized input is in the public signals instead of a commitment. */
  publicInput: boolean;
  createdAt: string;
  updatedAt: string;
  inputs?: { name: string; size: number }[];
  outputSize?: number;
  decisionSize?: number;
  head?: 'none' | 'sigmoid' | 'softmax';
  /** The model commitment public signal (decimal). */
  commitment?: string;
  layers?: LayerPlan[];
  constraints?: number;
  fidelity?: FidelityReport | null;
  vkeyHash?: string;
  setup?: SetupProvenance;
}

/** Models under artifacts/models/<id>/: the uploaded files and record.json. */
export class ModelStore {
  constructor(private readonly root = path.join(artifactRoot(), 'models')) {}

  dir(id: string): string {
    if (!/^[0-9a-f]{64}$/.test(id)) throw new Error(`not a model id: ${id}`);
    return path.join(this.root, id);
  }

  modelFile(rec: Pick<ModelRecord, 'id' | 'fileName'>): string {
    return path.join(this.dir(rec.id), rec.fileName);
  }

  async get(id: string): Promise<ModelRecord | null> {
    if (!/^[0-9a-f]{64}$/.test(id)) return null;
    return readJson<ModelRecord>(path.join(this.dir(id), 'record.json'));
  }

  async put(rec: ModelRecord): Promise<void> {
    await writeJsonAtomic(path.join(this.dir(rec.id), 'record.json'), rec);
  }

  async update(id: string, patch: Partial<ModelRecord>): Promise<ModelRecord> {
    const cur = await this.get(id);
    if (!cur) throw new Error(`model ${id} vanished`);
    const next = { ...cur, ...patch, updatedAt: new Date().toISOString() };
    await this.put(next);
    return next;
  }

  /** Stores the uploaded files (content-addressed: the same upload writes the same bytes). */
  async saveFiles(id: string, files: { name: string; bytes: Uint8Array }[]): Promise<void> {
    const dir = this.dir(id);
    await mkdir(dir, { recursive: true });
    for (const f of files) {
      const target = path.join(dir, f.name);
      if (await exists(target)) continue;
      const tmp = `${target}.${process.pid}.tmp`;
      await writeFile(tmp, f.bytes);
      await rename(tmp, target);
    }
  }

  async list(tenant?: string): Promise<ModelRecord[]> {
    if (!(await exists(this.root))) return [];
    const out: ModelRecord[] = [];
    for (const id of await readdir(this.root)) {
      const rec = await this.get(id);
      if (rec && (!tenant || rec.tenant === tenant)) out.push(rec);
    }
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }
}
