import { Ceremonies } from './ceremonies.ts';
import type { Db } from './db.ts';
import { IdempotencyKeys } from './idempotency.ts';
import { Models } from './models.ts';
import { Proofs } from './proofs.ts';
import { RequestKeys, type RequestKeyStore } from './request-keys.ts';
import { Versions } from './versions.ts';

/**
 * Every record store over one database, in one SQL dialect for PostgreSQL and PGlite: one
 * store per record (models, key versions, proofs, idempotency keys, ceremonies).
 */
export class Stores {
  /** Private requests are sealed under per-request keys kept in these files (see request-keys.ts). */
  readonly requestKeys: RequestKeyStore;
  readonly models: Models;
  readonly versions: Versions;
  readonly proofs: Proofs;
  readonly idempotency: IdempotencyKeys;
  readonly ceremonies: Ceremonies;
  constructor(
    readonly db: Db,
    opts: { requestKeys?: RequestKeyStore } = {},
  ) {
    this.requestKeys = opts.requestKeys ?? new RequestKeys();
    this.models = new Models(db);
    this.versions = new Versions(db);
    this.proofs = new Proofs(db, { requestKeys: this.requestKeys });
    this.idempotency = new IdempotencyKeys(db);
    this.ceremonies = new Ceremonies(db);
  }
}
