import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { ProofBundle } from '../prover/bundle.ts';
import { artifactKindDir } from './paths.ts';
import { RecordStore } from './record-store.ts';
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
export class ProofStore extends RecordStore<ProofRecord> {
  constructor(root = artifactKindDir('proof')) {
    super(root, /^[0-9a-f-]{36}$/, 'proof');
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

  listFor(filter: { tenant?: string; modelId?: string }): Promise<ProofRecord[]> {
    return this.list((rec) => (!filter.tenant || rec.tenant === filter.tenant) && (!filter.modelId || rec.modelId === filter.modelId));
  }
}
