// The failed-authentication lock (#20, item 7) on its own, in memory and on Redis: it counts
// different wrong keys per address (a retried stale key is one), locks the address past the
// limit, and remembers the keys that authenticated from an address (they pass the lock).
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { AuthFailures } from '../../src/api/auth-failures.ts';
import { keyFingerprint } from '../../src/api/auth.ts';
import { redisConnection } from '../../src/queue/index.ts';
import { findRedis } from '../helpers/redis.ts';

const redis = await findRedis();
const conns: Redis[] = [];
afterAll(() => {
  for (const c of conns) c.disconnect();
  redis.stop();
});

for (const backend of [
  { name: 'in memory', skip: false, conn: async (): Promise<Redis | null> => null },
  {
    name: 'on Redis',
    skip: !redis.url,
    conn: async (): Promise<Redis | null> => {
      const c = redisConnection(redis.url!);
      c.on('error', () => {});
      conns.push(c);
      if (c.status !== 'ready') await new Promise((r) => c.once('ready', r));
      return c;
    },
  },
]) {
  describe.skipIf(backend.skip)(`AuthFailures ${backend.name}`, () => {
    it('locks an address after `limit` different wrong keys, for the window; a repeated key counts once', async () => {
      const f = new AuthFailures(3, await backend.conn(), `test-${randomUUID()}`, 1500);
      const ip = '203.0.113.7';
      for (let i = 0; i < 10; i++) await f.record(ip, keyFingerprint('stale-key-0123456789'));
      expect(await f.blockedFor(ip)).toBe(0);
      await f.record(ip, keyFingerprint('guess-1'));
      expect(await f.blockedFor(ip)).toBe(0);
      await f.record(ip, '');
      expect(await f.blockedFor(ip)).toBeGreaterThan(0);
      // Another address is not locked.
      expect(await f.blockedFor('203.0.113.8')).toBe(0);
      // The window ends.
      await new Promise((r) => setTimeout(r, 1700));
      expect(await f.blockedFor(ip)).toBe(0);
    });

    it('remembers the keys that authenticated from an address, per address', async () => {
      const f = new AuthFailures(3, await backend.conn(), `test-${randomUUID()}`);
      const good = keyFingerprint('good-key-0123456789');
      expect(await f.knownFrom('198.51.100.1', good)).toBe(false);
      await f.succeeded('198.51.100.1', good);
      expect(await f.knownFrom('198.51.100.1', good)).toBe(true);
      expect(await f.knownFrom('198.51.100.2', good)).toBe(false);
      expect(await f.knownFrom('198.51.100.1', keyFingerprint('other-key-0123456789'))).toBe(false);
    });
  });
}
