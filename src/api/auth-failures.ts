import type { Redis } from 'ioredis';

/**
 * Failed authentications per client address in fixed one-minute windows, shared by every
 * API process through Redis when there is one. Past the limit an address is refused (429)
 * before its credentials are even compared: guessing keys costs a minute per `limit` tries.
 */
export class AuthFailures {
  private readonly local = new Map<string, { n: number; until: number }>();

  constructor(
    private readonly limit: number,
    private readonly redis: Redis | null,
    private readonly prefix: string,
    private readonly windowMs = 60_000,
  ) {}

  private key(ip: string): string {
    return `${this.prefix}:authfail:${ip}`;
  }

  /** Seconds until the address may try again, or 0 when it is under the limit. */
  async blockedFor(ip: string): Promise<number> {
    if (this.redis) {
      const [n, ttl] = await Promise.all([this.redis.get(this.key(ip)), this.redis.pttl(this.key(ip))]);
      return Number(n ?? 0) >= this.limit ? Math.max(1, Math.ceil(ttl / 1000)) : 0;
    }
    const e = this.local.get(ip);
    if (!e || e.until <= Date.now()) return 0;
    return e.n >= this.limit ? Math.max(1, Math.ceil((e.until - Date.now()) / 1000)) : 0;
  }

  async record(ip: string): Promise<void> {
    if (this.redis) {
      const n = await this.redis.incr(this.key(ip));
      if (n === 1) await this.redis.pexpire(this.key(ip), this.windowMs);
      return;
    }
    const now = Date.now();
    const e = this.local.get(ip);
    if (!e || e.until <= now) {
      // Forget expired windows now and then, so a scan of many addresses cannot grow the map for ever.
      if (this.local.size > 10_000) for (const [k, v] of this.local) if (v.until <= now) this.local.delete(k);
      this.local.set(ip, { n: 1, until: now + this.windowMs });
    } else e.n += 1;
  }
}
