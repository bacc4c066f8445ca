import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileModel, type CompiledModel, setupModel } from '../../src/pipeline/index.ts';
import { Prover } from '../../src/prover/prover.ts';
import { WarmCache, warmProversBytesFromEnv } from '../../src/prover/warm.ts';
import type { CircuitSetup } from '../../src/prover/setup.ts';
import { runReference } from '../../src/quant/index.ts';
import { parseInput } from '../../src/model/index.ts';
import { LOAN_APPLICANT, LOAN_MODEL } from '../helpers/paths.ts';

// Warm provers of two real circuits (the loan model at two scales) under a memory budget that
// holds one of them: the least recently used is dropped, a dropped one is loaded again and
// proves, and concurrent requests for one circuit share one load.
describe('warm provers', () => {
  const models: { m: CompiledModel; setup: CircuitSetup }[] = [];
  beforeAll(async () => {
    for (const scale of [10, 12]) {
      const m = await compileModel(LOAN_MODEL, { settings: { scaleBits: scale }, samples: 4 });
      models.push({ m, setup: await setupModel(m) });
    }
  }, 300_000);

  const key = (i: number) => `${models[i].m.compiled.hash}/${models[i].setup.provenance.zkeySha256}`;
  const load = (i: number) => () => Prover.load(models[i].m.compiled, models[i].setup);

  it('keeps what fits, drops the least recently used, and reloads a dropped prover that still proves', async () => {
    const sizes = await Promise.all([0, 1].map(async (i) => (await load(i)()).bytes));
    expect(sizes[0]).toBeGreaterThan(0);
    const cache = new WarmCache<Prover>(Math.max(...sizes) + 1, (p) => p.bytes);
    const a = await cache.get(key(0), load(0));
    expect(await cache.get(key(0), load(0))).toBe(a);
    expect(cache.loads).toBe(1);
    await cache.get(key(1), load(1));
    expect(cache.keys()).toEqual([key(1)]);
    expect(cache.evictions).toBe(1);
    expect(cache.bytes).toBe(sizes[1]);

    const again = await cache.get(key(0), load(0));
    expect(again).not.toBe(a);
    expect(cache.loads).toBe(3);
    expect(cache.keys()).toEqual([key(0)]);
    const { m } = models[0];
    const x = runReference(m.quantized, parseInput(JSON.parse(await readFile(LOAN_APPLICANT, 'utf8')), m.ir)).input;
    const r = await again.prove({ nonce: 5n, x, salt: 7n });
    expect(r.publicSignals.length).toBeGreaterThan(0);

    // A budget both fit in keeps both, most recently used last.
    const roomy = new WarmCache<Prover>(sizes[0] + sizes[1], (p) => p.bytes);
    await Promise.all([roomy.get(key(0), load(0)), roomy.get(key(0), load(0)), roomy.get(key(1), load(1))]);
    expect(roomy.loads).toBe(2);
    await roomy.get(key(0), load(0));
    expect(roomy.keys()).toEqual([key(1), key(0)]);
    expect(roomy.evictions).toBe(0);
  }, 180_000);

  it('reads its budget from ZKINFER_WARM_PROVERS_MB', () => {
    expect(warmProversBytesFromEnv({})).toBe(2048 * 2 ** 20);
    expect(warmProversBytesFromEnv({ ZKINFER_WARM_PROVERS_MB: '64' })).toBe(64 * 2 ** 20);
    expect(() => warmProversBytesFromEnv({ ZKINFER_WARM_PROVERS_MB: 'lots' })).toThrow(/ZKINFER_WARM_PROVERS_MB/);
  });
});
