import { availableParallelism } from 'node:os';
import { ChildPool } from '../core/child-pool.ts';
import { sha256Text } from '../core/hash.ts';
import type { VerifyTask, VerifyTaskResult } from './verify-child.ts';
import { sourceFile } from '../core/package-root.ts';

/** Verdicts kept for bundles verified again (a regulator re-checking a batch): at most this many. */
export const VERDICT_CACHE_ENTRIES = 4096;

/**
 * Verification (a pairing check, ~20 ms of CPU) runs in child processes, one per core, not
 * on the API's event loop, so one verify does not hold up every other request.
 *
 * A verdict is a pure function of its task (the bundle or proof parts, the key and the
 * registered descriptor, all in the task): the same task again is answered from a bounded
 * cache keyed by the sha256 of the whole task, so a changed byte anywhere is a miss. Only
 * verdicts and refusals are kept, never an internal error.
 */
export class VerifyProcesses extends ChildPool<VerifyTask, VerifyTaskResult> {
  private readonly verdicts = new Map<string, VerifyTaskResult>();
  /** Tasks answered from the cache. */
  cacheHits = 0;

  constructor(
    count = Math.max(1, availableParallelism()),
    private readonly cacheEntries = VERDICT_CACHE_ENTRIES,
  ) {
    super(sourceFile('api', 'verify-child.ts'), count, 'verification process exited', (internal) => ({ ok: false, internal }));
  }

  override async run(task: VerifyTask): Promise<VerifyTaskResult> {
    const key = sha256Text(JSON.stringify(task));
    const hit = this.verdicts.get(key);
    if (hit) {
      // Most recently used last: the oldest entry is the first the Map iterates.
      this.verdicts.delete(key);
      this.verdicts.set(key, hit);
      this.cacheHits++;
      return structuredClone(hit);
    }
    const r = await super.run(task);
    if ((r.ok || 'code' in r) && this.cacheEntries > 0) {
      this.verdicts.set(key, structuredClone(r));
      if (this.verdicts.size > this.cacheEntries) this.verdicts.delete(this.verdicts.keys().next().value!);
    }
    return r;
  }
}
