import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { ProofBundle } from '../prover/bundle.ts';
import { artifactRoot, exists } from './paths.ts';
import { readJson, writeJsonAtomic } from './json-file.ts';

export type ProofStatus = 'queued' | 'proving' | 'done' | 'failed';

export interface ProofRecord {
  id: string;
  modelId: string;
  tenant: string;
  status: ProofStatus;
  reason?: string;
  /** Stage reached: parse, witness, prove, verify, stored. */
  stage: string;
  createdAt: string;
  updatedAt: string;
  timings?: { witnessMs: number; proveMs: number; verifyMs: number; totalMs: number };
  /** host:pid of the worker that made the proof. */
  worker?: string;
}

/** The private part of a request: kept only until the proof is made, never logged. */
export interface ProofRequestSecret {
  input: unknown;
  salt?: string;
  nonce?: string;
}

/** Proofs under artifacts/proofs/<id>/: record.json, request.json (until proved), bundle.json, receipt.json. */
export class ProofStore {
  constructor(private readonly root = path.join(artifactRoot(), 'proofs')) {}

  dir(id: string): string {
    if (!/^[0-9a-f-]{36}$/.test(id)) throw new Error(`not a proof id: ${id}`);
    return path.join(this.root, id);
  }

  async get(id: string): Promise<ProofRecord | null> {
    if (!/^[0-9a-f-]{36}$/.test(id)) return null;
    return readJson<ProofRecord>(path.join(this.dir(id), 'record.json'));
  }

  async put(rec: ProofRecord): Promise<void> {
    await writeJsonAtomic(path.join(this.dir(rec.id), 'record.json'), rec);
  }

  async update(id: string, patch: Partial<ProofRecord>): Promise<ProofRecord> {
    const cur = await this.get(id);
    if (!cur) throw new Error(`proof ${id} vanished`);
    const next = { ...cur, ...patch, updatedAt: new Date().toISOString() };
    await this.put(next);
    return next;
  }

  saveRequest(id: string, req: ProofRequestSecret): Promise<void> {
    return writeJsonAtomic(path.join(this.dir(id), 'request.json'), req);
  }

  getRequest(id: string): Promise<ProofRequestSecret | null> {
    return readJson<ProofRequestSecret>(path.join(this.dir(id), 'request.json'));
  }

  /** Private inputs are not kept after proving. */
  async dropRequest(id: string): Promise<void> {
    await rm(path.join(this.dir(id), 'request.json'), { force: true });
  }

  async saveResult(id: string, bundle: ProofBundle, receipt: unknown | null): Promise<void> {
    await writeJsonAtomic(path.join(this.dir(id), 'bundle.json'), bundle);
    if (receipt) await writeJsonAtomic(path.join(this.dir(id), 'receipt.json'), receipt);
  }

  getBundle(id: string): Promise<ProofBundle | null> {
    return readJson<ProofBundle>(path.join(this.dir(id), 'bundle.json'));
  }

  getReceipt(id: string): Promise<unknown> {
    return readJson(path.join(this.dir(id), 'receipt.json'));
  }

  async list(filter: { tenant?: string; modelId?: string }): Promise<ProofRecord[]> {
    if (!(await exists(this.root))) return [];
    const out: ProofRecord[] = [];
    for (const id of await readdir(this.root)) {
      const rec = await this.get(id);
      if (rec && (!filter.tenant || rec.tenant === filter.tenant) && (!filter.modelId || rec.modelId === filter.modelId)) out.push(rec);
    }
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }
}
