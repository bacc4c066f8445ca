// The submit-time check runs the prover's integer reference (issue #25, item 4): an input that
// fits every feature's range but overflows the first layer's accumulator (the loan model's fc1,
// 36 bits, with every feature at 2047) is refused at submit with a 400 naming the layer,
// instead of a 202 and a proof the prover fails later.
import { randomUUID } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, LOAN_APPLICANT, type Proc, PROVER_KEY, readyModel, startApi } from '../chaos/harness.ts';
import { embeddedStack } from '../chaos/stacks.ts';

describe('submit-time integer reference check', () => {
  let api: Proc;
  let base: string;
  let dbDir: string;
  let modelId: string;
  beforeAll(async () => {
    const s = await embeddedStack(false);
    dbDir = s.dbDir;
    base = s.base;
    api = await startApi(s);
    modelId = await readyModel(base);
  }, 300_000);
  afterAll(async () => {
    await api?.stop();
    if (dbDir) await rm(path.dirname(dbDir), { recursive: true, force: true });
  });

  it('refuses an input that overflows fc1 with a 400 naming the layer; an ordinary input is still accepted', async () => {
    const applicant = JSON.parse(await readFile(LOAN_APPLICANT, 'utf8')) as Record<string, number>;
    const poison = Object.fromEntries(Object.keys(applicant).map((k) => [k, 2047]));
    const r = await http(base, 'POST', `/v1/models/${modelId}/proofs`, PROVER_KEY, { input: poison }, { 'idempotency-key': randomUUID() });
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ code: 'INPUT_RANGE', field: expect.stringMatching(/^fc1\[\d+\]$/) });
    // The message names where, never the applicant's values.
    expect(r.body.message).not.toContain('2047');
    const ok = await http(base, 'POST', `/v1/models/${modelId}/proofs`, PROVER_KEY, { input: applicant }, { 'idempotency-key': randomUUID() });
    expect(ok.status).toBe(202);
  }, 120_000);
});
