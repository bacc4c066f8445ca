import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';

/**
 * Redis for the service tests: REDIS_URL, else 127.0.0.1:6379, else a redis-server this
 * run starts (nothing kept on disk). `url` is null only when none can be had; `why`
 * then says so, for the skip message.
 */
export async function findRedis(): Promise<{ url: string | null; why: string; stop(): void }> {
  const tryUrl = async (url: string) => {
    const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1000, enableOfflineQueue: false, retryStrategy: () => null });
    r.on('error', () => {});
    try {
      await r.connect();
      return (await r.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      r.disconnect();
    }
  };
  if (process.env.REDIS_URL) {
    if (await tryUrl(process.env.REDIS_URL)) return { url: process.env.REDIS_URL, why: '', stop() {} };
    return { url: null, why: `REDIS_URL=${process.env.REDIS_URL} does not answer`, stop() {} };
  }
  if (await tryUrl('redis://127.0.0.1:6379')) return { url: 'redis://127.0.0.1:6379', why: '', stop() {} };
  if (spawnSync('redis-server', ['--version']).status === 0) {
    const port = 6390 + Math.floor(Math.random() * 100);
    const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const url = `redis://127.0.0.1:${port}`;
    for (let i = 0; i < 50; i++) {
      if (await tryUrl(url)) return { url, why: '', stop: () => child.kill() };
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill();
  }
  return { url: null, why: 'no Redis: REDIS_URL unset, nothing on 127.0.0.1:6379 and no redis-server installed', stop() {} };
}
