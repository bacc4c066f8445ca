import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { LayerPlan } from '../circuit/index.ts';
import type { FidelityReport, QuantSettings } from '../quant/index.ts';
import type { SetupProvenance } from '../prover/setup.ts';
import type { BundleModel } from '../prover/descriptor.ts';
import { artifactKindDir, exists } from './paths.ts';
import { RecordStore } from './record-store.ts';

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
  /** The model descriptor (and commitment) every bundle of this model carries. */
  descriptor?: BundleModel;
  layers?: LayerPlan[];
  constraints?: number;
  fidelity?: FidelityReport | null;
  vkeyHash?: string;
  setup?: SetupProvenance;
}

/** Models under artifacts/models/<id>/: the uploaded files and record.json. */
export class ModelStore extends RecordStore<ModelRecord> {
  constructor(root = artifactKindDir('model')) {
    super(root, /^[0-9a-f]{64}$/, 'model');
  }

  modelFile(rec: Pick<ModelRecord, 'id' | 'fileName'>): string {
    return path.join(this.dir(rec.id), rec.fileName);
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

  listFor(tenant?: string): Promise<ModelRecord[]> {
    return this.list((rec) => !tenant || rec.tenant === tenant);
  }
}
