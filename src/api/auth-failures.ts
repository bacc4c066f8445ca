import type { Redis } from 'ioredis';
import { type OutageFlag, REDIS_ANSWER_MS } from './rate-limit-store.ts';

const NOT_SHARED = Symbol('not shared');

/**
 * Failed authentications per client address in fixed one-minute windows, shared by every
 * API process through Redis when there is one. What counts is the number of *different*
 * keys an address presented and got wrong: guessing needs a new key per try, while a client
 * retrying its one stale key is not guessing (and locks out no one). Past the limit the
 * address is refused (429) for the rest of the window, except for the keys that have
 * authenticated from it before (kept a day): an office behind one address keeps working
 * while one of its clients is misconfigured, and a locked address still learns nothing
 * about any key it has not used successfully.
 */
export class AuthFailures {
  private readonly local = new Map<string, { keys: Set<string>; until: number }>();
  private readonly known = new Map<string, Map<string, number>>();
  /** When this process last wrote a (address, key) success to Redis: at most one write per key and address per `noteEveryMs`. */
  private readonly noted = new Map<string, number>();

  constructor(
    private readonly limit: number,
    private readonly redis: Redis | null,
    private readonly prefix: string,
    private readonly windowMs = 60_000,
    private readonly knownMs = 24 * 3600_000,
    private readonly noteEveryMs = 10 * 60_000,
    /** Redis down: counted in this process meanwhile (the flag logs the switch once). */
    private readonly outage?: OutageFlag,
  ) {}

  /** `fn` on Redis, or NOT_SHARED when there is none or it does not answer (the local maps are used). */
  private async shared<T>(fn: (r: Redis) => Promise<T>): Promise<T | typeof NOT_SHARED> {
    if (!this.redis) return NOT_SHARED;
    if (this.redis.status !== 'ready') {
      this.outage?.failed(new Error(`connection ${this.redis.status}`));
      return NOT_SHARED;
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      // A command in flight when Redis went away waits for its reconnect: not past REDIS_ANSWER_MS.
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer in ${REDIS_ANSWER_MS} ms`)), REDIS_ANSWER_MS);
      });
      const r = await Promise.race([fn(this.redis), late]);
      this.outage?.back();
      return r;
    } catch (e) {
      this.outage?.failed(e as Error);
      return NOT_SHARED;
    } finally {
      clearTimeout(timer);
    }
  }

  private key(ip: string): string {
    return `${this.prefix}:authfail:${ip}`;
  }

  private knownKey(ip: string): string {
    return `${this.prefix}:authok:${ip}`;
  }

  /** Seconds until the address may try new keys again, or 0 when it is under the limit. */
  async blockedFor(ip: string): Promise<number> {
    const r = await this.shared(async (redis) => {
      const [n, ttl] = await Promise.all([redis.scard(this.key(ip)), redis.pttl(this.key(ip))]);
      return n >= this.limit ? Math.max(1, Math.ceil(ttl / 1000)) : 0;
    });
    if (r !== NOT_SHARED) return r;
    const e = this.local.get(ip);
    if (!e || e.until <= Date.now()) return 0;
    return e.keys.size >= this.limit ? Math.max(1, Math.ceil((e.until - Date.now()) / 1000)) : 0;
  }

  /** A failed authentication from `ip` with the key whose fingerprint is `fp` ('' for no key). */
  async record(ip: string, fp: string): Promise<void> {
    const member = fp || 'none';
    const done = await this.shared(async (redis) => {
      const r = await redis.multi().sadd(this.key(ip), member).pttl(this.key(ip)).exec();
      // No expiry yet (a new window): set it. Two processes racing both set about the same one.
      if (r && Number(r[1]?.[1]) < 0) await redis.pexpire(this.key(ip), this.windowMs);
      return true;
    });
    if (done !== NOT_SHARED) return;
    const now = Date.now();
    const e = this.local.get(ip);
    if (!e || e.until <= now) {
      // Forget expired windows now and then, so a scan of many addresses cannot grow the map for ever.
      if (this.local.size > 10_000) for (const [k, v] of this.local) if (v.until <= now) this.local.delete(k);
      this.local.set(ip, { keys: new Set([member]), until: now + this.windowMs });
    } else if (e.keys.size < this.limit) e.keys.add(member);
  }

  /** A key (by fingerprint) authenticated from `ip`: it stays usable from there while the address is locked. */
  async succeeded(ip: string, fp: string): Promise<void> {
    const now = Date.now();
    const memo = `${ip} ${fp}`;
    if ((this.noted.get(memo) ?? 0) > now - this.noteEveryMs) return;
    if (this.noted.size > 10_000) this.noted.clear();
    this.noted.set(memo, now);
    const done = await this.shared(async (redis) => {
      await redis.multi().sadd(this.knownKey(ip), fp).pexpire(this.knownKey(ip), this.knownMs).exec();
      return true;
    });
    if (done !== NOT_SHARED) return;
    if (this.known.size > 10_000) {
      for (const [k, m] of this.known) {
        for (const [f, until] of m) if (until <= now) m.delete(f);
        if (m.size === 0) this.known.delete(k);
      }
    }
    const m = this.known.get(ip) ?? new Map<string, number>();
    m.set(fp, now + this.knownMs);
    this.known.set(ip, m);
  }

  /**
   * Whether the key with fingerprint `fp` authenticated from `ip` before. Asked for every
   * key a locked address presents, valid or not, so the time of the answer says nothing.
   */
  async knownFrom(ip: string, fp: string): Promise<boolean> {
    const r = await this.shared(async (redis) => (await redis.sismember(this.knownKey(ip), fp)) === 1);
    if (r !== NOT_SHARED) return r;
    return (this.known.get(ip)?.get(fp) ?? 0) > Date.now();
  }
}
