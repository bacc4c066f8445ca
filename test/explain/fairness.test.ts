// Proven fairness (issue #22) on a model whose decision depends on a protected attribute for
// some applicants only (test/helpers/fairness-model.ts): the applicant whose decision flips
// with `group` gets unchanged = false, the one whose does not gets true, both read back
// through verifyBundle and equal to the integer reference. Real circuit, real Groth16.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileModel, type CompiledModel, proveModel, setupModel } from '../../src/pipeline/index.ts';
import type { CircuitSetup } from '../../src/prover/setup.ts';
import { parseInput } from '../../src/model/index.ts';
import { explainReference, quantizeInput } from '../../src/quant/index.ts';
import { fairnessLines, reasonsLine } from '../../src/bundle/explain-text.ts';
import { verifyBundle } from '../../src/verifier/index.ts';
import { FLIPPING, GROUP_EXPLAIN, groupScore, STEADY, writeGroupModel } from '../helpers/fairness-model.ts';

describe('proven fairness on a model that depends on a protected attribute', () => {
  let m: CompiledModel;
  let setup: CircuitSetup;

  beforeAll(async () => {
    const file = await writeGroupModel(await mkdtemp(path.join(tmpdir(), 'zkinfer-fairness-')));
    m = await compileModel(file, { explain: GROUP_EXPLAIN, fidelity: false });
    setup = await setupModel(m);
  });

  it('the helper model flips for one applicant and not the other (float check of the fixture itself)', () => {
    expect(groupScore(FLIPPING) < 0).not.toBe(groupScore({ ...FLIPPING, group: 1 }) < 0);
    expect(groupScore(STEADY) >= 0).toBe(groupScore({ ...STEADY, group: 0 }) >= 0);
    expect(m.descriptor.explain).toMatchObject({ reasons: 2, protected: [{ feature: 'group', values: [0, 1] }] });
  });

  it.each([
    ['flipping', FLIPPING, false, ['group', 'x0']],
    ['steady', STEADY, true, ['x1', 'group']],
  ] as const)(
    '%s applicant %o: fairness unchanged = %s, through verifyBundle, equal to the integer reference',
    async (_name, applicant, unchanged, reasonNames) => {
      const { bundle } = await proveModel(m, setup, applicant);
      const v = await verifyBundle(bundle);
      expect(v).toMatchObject({ valid: true, reason: 'proof verifies' });
      expect(v.outputs?.fairness).toEqual([{ feature: 'group', unchanged }]);
      const ref = explainReference(m.quantized, m.explain!, quantizeInput(m.quantized, parseInput(applicant, m.ir)));
      expect(ref.fair).toEqual([unchanged]);
      // Against the baseline x0 = 1, group = 1: the flipping applicant's low x0 and group 0 lowered the score most.
      expect(v.outputs?.reasons?.map((r) => r.feature)).toEqual(reasonNames);
      expect(v.outputs?.reasons?.map((r) => [r.feature, r.contributionInteger])).toEqual(
        ref.reasons.map((r) => [m.descriptor.explain!.features[r.feature].name, r.contribution.toString()]),
      );
      expect(fairnessLines(v.outputs!, bundle.model)).toEqual([
        unchanged ? 'Decision unchanged for every value of: group' : 'Decision CHANGES with the value of: group (tested: 0, 1)',
      ]);
      expect(reasonsLine(v.outputs!)).toMatch(/^Principal reasons: 1\. \w+ \([-+]?[\d.]+\), 2\. \w+/);
      // A fairness bit edited in the bundle is not what was proven.
      const edited = structuredClone(bundle);
      edited.outputs.fairness![0].unchanged = !unchanged;
      const bad = await verifyBundle(edited).catch((e: Error) => ({ valid: false, reason: e.message }));
      expect(bad.valid).toBe(false);
    },
  );
});
