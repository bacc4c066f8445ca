// The worker's checks on what it compiles, against a real embedded store and real compiles.
import { copyFile, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { UnrecoverableError } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobRecords } from '../../src/queue/job-records.ts';
import { makeProcessors } from '../../src/queue/processors.ts';
import { type Db, openDb } from '../../src/store/db.ts';
import { Stores } from '../../src/store/stores.ts';
import { uploadDir } from '../../src/store/uploads.ts';
import { LOAN_MODEL } from '../helpers/paths.ts';

describe('a worker compiling an upload', () => {
  let db: Db;
  let stores: Stores;
  const forged = 'e'.repeat(63) + '1';
  beforeAll(async () => {
    db = await openDb({ dir: 'memory://' });
    stores = new Stores(db);
  });
  afterAll(async () => {
    await db?.close();
    await rm(uploadDir(forged), { recursive: true, force: true });
  });

  it('refuses bytes that do not hash to the model id, and says so in the record', async () => {
    // A folder named after one id holding another model's bytes (a swapped or corrupted upload).
    await mkdir(uploadDir(forged), { recursive: true });
    await copyFile(LOAN_MODEL, path.join(uploadDir(forged), 'loan-model.onnx'));
    await stores.models.register({
      tenant: 't',
      id: forged,
      fileName: 'loan-model.onnx',
      externalFiles: [],
      settings: { scaleBits: 10, bits: 32 },
      publicInput: false,
    });
    const p = makeProcessors(jobRecords(stores));
    await expect(p.compile('t', forged)).rejects.toBeInstanceOf(UnrecoverableError);
    const rec = (await stores.models.get('t', forged))!;
    expect(rec.status).toBe('failed');
    expect(rec.reason).toContain(`not to the model id ${forged}`);
    expect(await stores.versions.list('t', forged)).toEqual([]);
  });
});
