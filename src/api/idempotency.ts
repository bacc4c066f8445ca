import type { Redis } from 'ioredis';

/** Idempotency-Key bookkeeping: the first request with a key wins; repeats get its proof id. */
export interface IdempotencyStore {
  /** Returns the proof id already bound to the key, or binds `proofId` and returns it. */
  claim(key: string, payloadHash: string, proofId: string): Promise<{ proofId: string; payloadHash: string }>;
}

const TTL_SECONDS = 24 * 3600;

export function redisIdempotency(redis: Redis, prefix: string): IdempotencyStore {
  return {
    async claim(key, payloadHash, proofId) {
      const k = `${prefix}:idem:${key}`;
      const mine = JSON.stringify({ proofId, payloadHash });
      // SET NX is atomic: of any number of concurrent requests exactly one binds the key.
      const ok = await redis.set(k, mine, 'EX', TTL_SECONDS, 'NX');
      if (ok === 'OK') return { proofId, payloadHash };
      const cur = await redis.get(k);
      return cur ? (JSON.parse(cur) as { proofId: string; payloadHash: string }) : { proofId, payloadHash };
    },
  };
}

export function memoryIdempotency(): IdempotencyStore {
  const map = new Map<string, { proofId: string; payloadHash: string }>();
  return {
    async claim(key, payloadHash, proofId) {
      const cur = map.get(key);
      if (cur) return cur;
      const mine = { proofId, payloadHash };
      map.set(key, mine);
      return mine;
    },
  };
}
