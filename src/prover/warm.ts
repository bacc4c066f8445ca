import { ZkinferError } from '../core/errors.ts';

/** Default memory for warm provers in one process (ZKINFER_WARM_PROVERS_MB): their proving keys and witness generators. */
export const DEFAULT_WARM_PROVERS_MB = 2048;

/** The warm-prover budget in bytes from ZKINFER_WARM_PROVERS_MB (default 2048 MB). */
export function warmProversBytesFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.ZKINFER_WARM_PROVERS_MB;
  if (raw === undefined || raw === '') return DEFAULT_WARM_PROVERS_MB * 2 ** 20;
  const mb = Number(raw);
  if (!Number.isFinite(mb) || mb < 0)
    throw new ZkinferError('SETTINGS', `ZKINFER_WARM_PROVERS_MB must be a number of megabytes >= 0 (got ${raw})`, 'ZKINFER_WARM_PROVERS_MB');
  return Math.floor(mb * 2 ** 20);
}

interface Entry<T> {
  value: Promise<T>;
  bytes: number;
}

/**
 * Loaded provers kept warm in one process, bounded by the memory they hold: a model proved
 * again reuses its loaded key; when a new one would pass the budget, the least recently used
 * ones are dropped first (a proof already running keeps its own reference). One prover larger
 * than the whole budget is still loaded and used, and dropped when the next one comes.
 */
export class WarmCache<T> {
  private readonly entries = new Map<string, Entry<T>>();
  /** Provers loaded (not found warm), and dropped to stay within the budget. */
  loads = 0;
  evictions = 0;

  constructor(
    private readonly budgetBytes: number,
    private readonly sizeOf: (v: T) => number,
  ) {}

  get(key: string, load: () => Promise<T>): Promise<T> {
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit.value;
    }
    this.loads++;
    const entry: Entry<T> = { value: load(), bytes: 0 };
    this.entries.set(key, entry);
    entry.value.then(
      (v) => {
        entry.bytes = this.sizeOf(v);
        this.trim(key);
      },
      () => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      },
    );
    return entry.value;
  }

  /** Bytes held by the loaded entries. */
  get bytes(): number {
    let n = 0;
    for (const e of this.entries.values()) n += e.bytes;
    return n;
  }

  keys(): string[] {
    return [...this.entries.keys()];
  }

  private trim(keep: string): void {
    for (const [k] of this.entries) {
      if (this.bytes <= this.budgetBytes) return;
      if (k === keep) continue;
      this.entries.delete(k);
      this.evictions++;
    }
  }
}
