import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { exists } from './paths.ts';
import { readJson, writeJsonAtomic } from './json-file.ts';

/** Records kept as <root>/<id>/record.json, each written atomically. */
export class RecordStore<T extends { id: string; createdAt: string; updatedAt: string }> {
  constructor(
    private readonly root: string,
    private readonly idPattern: RegExp,
    private readonly what: string,
  ) {}

  dir(id: string): string {
    if (!this.idPattern.test(id)) throw new Error(`not a ${this.what} id: ${id}`);
    return path.join(this.root, id);
  }

  async get(id: string): Promise<T | null> {
    if (!this.idPattern.test(id)) return null;
    return readJson<T>(path.join(this.dir(id), 'record.json'));
  }

  async put(rec: T): Promise<void> {
    await writeJsonAtomic(path.join(this.dir(rec.id), 'record.json'), rec);
  }

  async update(id: string, patch: Partial<T>): Promise<T> {
    const cur = await this.get(id);
    if (!cur) throw new Error(`${this.what} ${id} vanished`);
    const next = { ...cur, ...patch, updatedAt: new Date().toISOString() };
    await this.put(next);
    return next;
  }

  /** Every record that `keep` accepts, oldest first. */
  async list(keep: (rec: T) => boolean): Promise<T[]> {
    if (!(await exists(this.root))) return [];
    const out: T[] = [];
    for (const id of await readdir(this.root)) {
      const rec = await this.get(id);
      if (rec && keep(rec)) out.push(rec);
    }
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }
}
