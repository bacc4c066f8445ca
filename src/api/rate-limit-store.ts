// The rate limiter's store: Redis (shared by every API process) while it answers, and a
// count kept in this process while it does not, so reads and verifications keep being
// served (and limited) during a Redis outage. The switch is logged once each way.
import { createRequire } from 'node:module';
import type { FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { Redis } from 'ioredis';

type Result = { current: number; ttl: number };
type Callback = (err: Error | null, res: Result | null) => void;
interface Store {
  incr(key: string, cb: Callback, timeWindow: number, max: number): void;
  read?(key: string, cb: Callback, timeWindow: number, max: number): void;
  child(routeOptions: RouteOptions): Store;
}
interface RouteOptions {
  continueExceeding?: boolean;
  exponentialBackoff?: boolean;
  routeInfo: { method: string; url: string };
}
type StoreCtor = new (...args: unknown[]) => Store;

const require = createRequire(import.meta.url);
const RedisStore = require('@fastify/rate-limit/store/RedisStore.js') as StoreCtor;
const LocalStore = require('@fastify/rate-limit/store/LocalStore.js') as StoreCtor;

/** How long a rate-limit or authentication-failure count waits for Redis before counting locally. */
export const REDIS_ANSWER_MS = 500;

/** Whether Redis is down for the rate limits: one line when it goes, one when it is back. */
export class OutageFlag {
  down = false;
  constructor(private readonly log: (m: string) => void) {}
  failed(e: Error): void {
    if (this.down) return;
    this.down = true;
    this.log(`Redis unavailable (${e.message}): rate limits and authentication failures are counted in this process until it is back`);
  }
  back(): void {
    if (!this.down) return;
    this.down = false;
    this.log('Redis is back: rate limits are shared again');
  }
}

class FallbackStore implements Store {
  constructor(
    private readonly redis: Redis,
    private readonly shared: Store,
    private readonly local: Store,
    private readonly flag: OutageFlag,
  ) {}

  private run(method: 'incr' | 'read', key: string, cb: Callback, timeWindow: number, max: number): void {
    const local = () => (method === 'read' && this.local.read ? this.local.read(key, cb, timeWindow, max) : this.local.incr(key, cb, timeWindow, max));
    // Not connected: the local count at once (the client fails fast, but no need to ask).
    if (this.redis.status !== 'ready') {
      this.flag.failed(new Error(`connection ${this.redis.status}`));
      local();
      return;
    }
    const shared = this.shared[method]?.bind(this.shared);
    if (!shared) return local();
    // A command in flight when Redis went away is held by the client until it reconnects:
    // past REDIS_ANSWER_MS the local count answers instead (the late reply is ignored).
    let answered = false;
    const timer = setTimeout(() => {
      answered = true;
      this.flag.failed(new Error(`no answer in ${REDIS_ANSWER_MS} ms`));
      local();
    }, REDIS_ANSWER_MS);
    shared(
      key,
      (err, res) => {
        if (answered) return;
        answered = true;
        clearTimeout(timer);
        if (err) {
          this.flag.failed(err);
          local();
        } else {
          this.flag.back();
          cb(null, res);
        }
      },
      timeWindow,
      max,
    );
  }

  incr(key: string, cb: Callback, timeWindow: number, max: number): void {
    this.run('incr', key, cb, timeWindow, max);
  }

  read(key: string, cb: Callback, timeWindow: number, max: number): void {
    this.run('read', key, cb, timeWindow, max);
  }

  child(routeOptions: RouteOptions): Store {
    return new FallbackStore(
      this.redis,
      this.shared.child(routeOptions),
      new LocalStore(routeOptions.continueExceeding, routeOptions.exponentialBackoff),
      this.flag,
    );
  }
}

/** A store class for @fastify/rate-limit's `store` option: Redis under `nameSpace`, this process's count while Redis is down. */
export function fallbackRateLimitStore(redis: Redis, nameSpace: string, flag: OutageFlag): FastifyRateLimitStoreCtor {
  class Fallback extends FallbackStore {
    constructor(params: { continueExceeding?: boolean; exponentialBackoff?: boolean }) {
      super(
        redis,
        new RedisStore(params.continueExceeding, params.exponentialBackoff, redis, nameSpace),
        new LocalStore(params.continueExceeding, params.exponentialBackoff),
        flag,
      );
    }
  }
  return Fallback as unknown as FastifyRateLimitStoreCtor;
}
