// `zkinfer notice <bundle> --receipt <receipt>` (issue #22): the applicant's receipt rendered
// as a plain-text adverse-action notice, through the real CLI in a child process, on real
// proofs of the tiny group model (test/helpers/fairness-model.ts). It refuses (exit 1) a
// receipt of another proof and a bundle that does not verify.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ProofBundle, Receipt } from '../../src/bundle/format.ts';
import { contributionText, REASONS_NOTE } from '../../src/bundle/explain-text.ts';
import { compileModel, proveModel, setupModel } from '../../src/pipeline/index.ts';
import { vkeyHash } from '../../src/prover/setup.ts';
import { cli } from '../helpers/cli.ts';
import { FLIPPING, GROUP_EXPLAIN, STEADY, writeGroupModel } from '../helpers/fairness-model.ts';

describe('zkinfer notice', () => {
  let dir: string;
  let bundle: ProofBundle;
  const files = { bundle: '', receipt: '', otherReceipt: '', tampered: '', vkey: '' };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-notice-'));
    const m = await compileModel(await writeGroupModel(dir), { explain: GROUP_EXPLAIN, labels: ['deny', 'approve'], fidelity: false });
    const setup = await setupModel(m);
    const flipping = await proveModel(m, setup, FLIPPING);
    const steady = await proveModel(m, setup, STEADY);
    bundle = flipping.bundle;
    const write = async (name: string, v: unknown) => {
      const f = path.join(dir, name);
      await writeFile(f, JSON.stringify(v, null, 2));
      return f;
    };
    files.bundle = await write('bundle.json', bundle);
    files.receipt = await write('receipt.json', flipping.receipt as Receipt);
    files.otherReceipt = await write('other-receipt.json', steady.receipt as Receipt);
    const tampered = structuredClone(bundle);
    tampered.outputs.reasons![0].contributionInteger = String(BigInt(tampered.outputs.reasons![0].contributionInteger) - 1n);
    files.tampered = await write('tampered.json', tampered);
    files.vkey = await write('vkey.json', setup.vkey);
  });

  it('prints the decision, the proven reasons and fairness, the receipt statement and how to verify', async () => {
    const r = await cli(['notice', files.bundle, '--receipt', files.receipt, '--vkey', files.vkey]);
    expect(r.code, r.stderr).toBe(0);
    const text = r.stdout;
    expect(text).toMatch(/^NOTICE OF ACTION TAKEN ON YOUR APPLICATION \(adverse action notice\)/);
    expect(bundle.outputs.decision).toEqual([0]);
    expect(text).toContain('Decision: 0: deny (logit < 0)');
    const reasons = bundle.outputs.reasons!;
    expect(reasons).toHaveLength(2);
    reasons.forEach((x, i) => expect(text).toContain(`  ${i + 1}. ${x.feature} (${contributionText(x.contribution)})`));
    expect(text).toContain(REASONS_NOTE);
    expect(text).toContain('Fairness (proven):\n  Decision CHANGES with the value of: group (tested: 0, 1)');
    expect(text).toContain(`Your receipt opens the input commitment ${bundle.publicSignals[1]} of this proof`);
    expect(text).toContain('As given: x0 = 0.2, x1 = 0, group = 0');
    expect(text).toContain(`model id ${bundle.model.id}`);
    expect(text).toContain(`verification key hash ${vkeyHash(bundle.verificationKey)} (the published key)`);
    expect(text).toContain(`zkinfer verify ${files.bundle} --receipt ${files.receipt} --vkey ${files.vkey}`);
  });

  it('refuses a receipt of another proof, with exit 1 and no notice', async () => {
    const r = await cli(['notice', files.bundle, '--receipt', files.otherReceipt]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^no notice: the receipt does not match this proof: /);
  });

  it('refuses a bundle whose reasons were edited (it does not verify), with exit 1 and no notice', async () => {
    const r = await cli(['notice', files.tampered, '--receipt', files.receipt]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^no notice: the proof is INVALID: /);
  });
});
