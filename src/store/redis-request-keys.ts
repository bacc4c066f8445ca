import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { eraseClosed, isRequestId, openWith, type RequestKeyStore, type SealedRequest, sealWith } from './request-keys.ts';

/**
 * The per-request keys of crypto-shredding (request-keys.ts) in Redis, for APIs and workers
 * on machines with their own disks: the API seals a request, a worker on another machine
 * opens it, and the key is deleted when the proof ends. The key stays out of PostgreSQL,
 * where the ciphertext is, so a copy of the database alone does not open a request. Each
 * value is `<created ms>:<key, base64>`; the sweep deletes keys whose request is gone.
 */
export class RedisRequestKeys implements RequestKeyStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private name(id: string): string {
    if (!isRequestId(id)) throw new Error('a request key is named by its proof id');
    return `${this.prefix}:request-key:${id}`;
  }

  async seal(id: string, body: unknown): Promise<SealedRequest> {
    const key = randomBytes(32);
    // NX: a key is made once; a second seal under the same id is a bug, not an overwrite.
    if ((await this.redis.set(this.name(id), `${Date.now()}:${key.toString('base64')}`, 'NX')) !== 'OK') {
      throw new Error(`a request key for ${id} exists already`);
    }
    return sealWith(key, id, body);
  }

  async open<T>(id: string, sealed: SealedRequest): Promise<T | null> {
    const v = await this.redis.get(this.name(id));
    if (!v) return null;
    return openWith<T>(Buffer.from(v.slice(v.indexOf(':') + 1), 'base64'), id, sealed);
  }

  async erase(id: string): Promise<void> {
    await this.redis.del(this.name(id));
  }

  async sweep(isOpen: (ids: string[]) => Promise<Set<string>>, minAgeMs: number): Promise<number> {
    const old: string[] = [];
    const head = `${this.prefix}:request-key:`;
    let cursor = '0';
    do {
      const [next, names] = await this.redis.scan(cursor, 'MATCH', `${head}*`, 'COUNT', 500);
      cursor = next;
      for (const n of names) {
        const v = await this.redis.get(n);
        if (v && Date.now() - Number(v.slice(0, v.indexOf(':'))) >= minAgeMs) old.push(n.slice(head.length));
      }
    } while (cursor !== '0');
    return eraseClosed(this, old, isOpen);
  }
}
