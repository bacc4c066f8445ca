import type { Redis } from 'ioredis';
import { LOCAL_STORE, useArtifactStore } from '../core/artifact-store.ts';
import type { Db } from '../store/db.ts';
import { PgArtifactStore } from '../store/pg-artifacts.ts';
import { shareReceipts } from '../store/proof-files.ts';
import { RedisRequestKeys } from '../store/redis-request-keys.ts';
import type { RequestKeyStore } from '../store/request-keys.ts';
import { artifactStoreKind, type Config } from './config.ts';

/**
 * Sets this process's artifact store from the configuration (the API and the worker call it
 * at start). On several machines (the postgres store): artifacts in the database with the
 * local folder as a cache, and what must not be stored as an artifact in Redis: the
 * per-request keys (crypto-shredding) and the receipts (with their TTL). Returns the request
 * key store for the records, when it is not the local folder's.
 */
export function useConfiguredArtifacts(
  cfg: Pick<Config, 'artifactStore' | 'redisUrl' | 'databaseUrl' | 'artifactCacheBytes' | 'queuePrefix' | 'receiptTtlMs'>,
  db: Db,
  redis: Redis | null,
  log?: (m: string) => void,
): { store: 'local' | 'postgres'; requestKeys?: RequestKeyStore } {
  if (artifactStoreKind(cfg) !== 'postgres' || db.kind !== 'postgres') {
    useArtifactStore(LOCAL_STORE);
    shareReceipts(null);
    return { store: 'local' };
  }
  useArtifactStore(new PgArtifactStore(db, { cacheBytes: cfg.artifactCacheBytes, log }));
  if (!redis) {
    shareReceipts(null);
    return { store: 'postgres' };
  }
  shareReceipts({ redis, prefix: cfg.queuePrefix, ttlMs: cfg.receiptTtlMs });
  return { store: 'postgres', requestKeys: new RedisRequestKeys(redis, cfg.queuePrefix) };
}
