import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VerifyProcesses } from '../../src/api/verify-processes.ts';
import type { ProofBundle } from '../../src/bundle/format.ts';
import { compileModel, proveModel, setupModel } from '../../src/pipeline/index.ts';
import { LOAN_APPLICANT, LOAN_MODEL } from '../helpers/paths.ts';

// The verification processes answer a task seen before from their cache: the same verdict,
// without a pairing check. A bundle changed anywhere is another task: checked, and refused.
describe('verdict cache', () => {
  let bundle: ProofBundle;
  let pool: VerifyProcesses;
  beforeAll(async () => {
    const m = await compileModel(LOAN_MODEL, { samples: 4 });
    const setup = await setupModel(m);
    const input = JSON.parse(await readFile(LOAN_APPLICANT, 'utf8'));
    bundle = (await proveModel(m, setup, input)).bundle;
    pool = new VerifyProcesses(2, 2);
  }, 240_000);
  afterAll(() => pool?.close());

  it('answers a repeated task from the cache, and checks a changed one', async () => {
    const task = () => ({ kind: 'bundle' as const, bundle: structuredClone(bundle), vkey: bundle.verificationKey });
    const first = await pool.run(task());
    expect(first).toMatchObject({ ok: true, valid: true });
    expect(pool.cacheHits).toBe(0);
    const again = await pool.run(task());
    expect(again).toEqual(first);
    expect(pool.cacheHits).toBe(1);

    const tampered = task();
    tampered.bundle.publicSignals[1] = (BigInt(tampered.bundle.publicSignals[1]) + 1n).toString();
    const refused = await pool.run(tampered);
    expect(refused).toMatchObject({ ok: true, valid: false });
    expect(pool.cacheHits).toBe(1);

    // Bounded: two entries kept, the least recently used goes first.
    const other = task();
    other.bundle.nonce = `${other.bundle.nonce}0`;
    await pool.run(other);
    await pool.run(task());
    expect(pool.cacheHits).toBe(1);
  }, 120_000);
});
