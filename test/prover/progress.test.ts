import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StageEvent, STAGES, stage, withProgress } from '../../src/core/progress.ts';
import { compileModel, setupModel } from '../../src/pipeline/index.ts';
import { LOAN_MODEL } from '../helpers/paths.ts';

// A compile and setup in an empty artifact folder reports every stage, in order; a second
// one reuses the circuit and key (no phase-2 stages); nothing outside withProgress is told.
describe('progress stages', () => {
  let dir: string;
  const before = process.env.ZKINFER_ARTIFACTS;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-progress-'));
    process.env.ZKINFER_ARTIFACTS = dir;
  });
  afterAll(async () => {
    if (before === undefined) delete process.env.ZKINFER_ARTIFACTS;
    else process.env.ZKINFER_ARTIFACTS = before;
    await rm(dir, { recursive: true, force: true });
  });

  const run = async () => {
    const seen: StageEvent[] = [];
    await withProgress(
      (e) => seen.push(e),
      async () => setupModel(await compileModel(LOAN_MODEL, { samples: 4 })),
    );
    return seen;
  };

  it('reports import, quantize, circom, fidelity, ptau and the phase-2 stages in order', async () => {
    const first = await run();
    expect(first.map((e) => e.stage)).toEqual(['import', 'quantize', 'circom', 'fidelity', 'ptau', 'phase2', 'contribution', 'beacon', 'export-key']);
    expect(first.map((e) => STAGES.indexOf(e.stage))).toEqual([...first.map((e) => STAGES.indexOf(e.stage))].sort((a, b) => a - b));
    const times = first.map((e) => Date.parse(e.at));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(first.find((e) => e.stage === 'phase2')?.detail).toMatch(/^[\d,]+ constraints, ptau 2\^\d+$/);

    const again = await run();
    expect(again.map((e) => e.stage)).toEqual(['import', 'quantize', 'circom', 'fidelity', 'ptau']);
  }, 240_000);

  it('a reporter that throws does not fail the work, and code outside withProgress reports to nobody', async () => {
    stage('import');
    const r = await withProgress(
      () => {
        throw new Error('broken reporter');
      },
      async () => {
        stage('quantize');
        return 42;
      },
    );
    expect(r).toBe(42);
  });
});
