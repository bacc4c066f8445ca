import type { Db } from '../store/db.ts';

/** Workers' heartbeats (worker_heartbeats), for the API's /readyz. */
export class Heartbeats {
  constructor(private readonly db: Db) {}

  async beat(worker: string, kind: string): Promise<void> {
    await this.db.query(
      'INSERT INTO worker_heartbeats (worker, kind, seen_at) VALUES ($1, $2, now()) ON CONFLICT (worker) DO UPDATE SET seen_at = now(), kind = $2',
      [worker, kind],
    );
  }

  async forget(worker: string): Promise<void> {
    await this.db.query('DELETE FROM worker_heartbeats WHERE worker = $1', [worker]);
  }

  /** Milliseconds since the most recent heartbeat of any worker; null if none ever beat. */
  async ageMs(): Promise<number | null> {
    const [r] = await this.db.query<{ age: number | null }>('SELECT (extract(epoch FROM now() - max(seen_at)) * 1000)::float8 AS age FROM worker_heartbeats');
    return r?.age ?? null;
  }

  /** Forgets workers not seen for a day (each restart of a worker is a new name). */
  async prune(): Promise<void> {
    await this.db.query("DELETE FROM worker_heartbeats WHERE seen_at < now() - interval '1 day'");
  }
}
