// The verification page shows proven reasons and fairness (issue #22) in the shared wording
// (src/bundle/explain-text.ts): real proofs of the tiny group model (test/helpers/fairness-model.ts),
// one applicant whose decision flips with the protected `group` (a warning) and one whose
// does not (a calm statement), verified in Chromium from the standalone page (file://).
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeVerifyPage } from '../../src/cli/commands/verify-page.ts';
import type { ProofBundle } from '../../src/bundle/format.ts';
import { contributionText } from '../../src/bundle/explain-text.ts';
import { compileModel, proveModel, setupModel } from '../../src/pipeline/index.ts';
import { CHROMIUM, HAVE_CHROMIUM, launchChromium } from '../helpers/chromium.ts';
import { FLIPPING, GROUP_EXPLAIN, STEADY, writeGroupModel } from '../helpers/fairness-model.ts';
import { REPO } from '../helpers/paths.ts';

if (!HAVE_CHROMIUM) console.warn(`skipping the reasons and fairness page test: no Chromium at ${CHROMIUM}`);

const SHOTS = path.join(REPO, 'test-results', 'verify-page');

describe.skipIf(!HAVE_CHROMIUM)('verification page: proven reasons and fairness, in Chromium', () => {
  let browser: BrowserContext;
  let dir: string;
  let pageFile: string;
  const bundles: Record<'flipping' | 'steady', { file: string; bundle: ProofBundle }> = {} as never;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-explain-page-'));
    await mkdir(SHOTS, { recursive: true });
    const m = await compileModel(await writeGroupModel(dir), { explain: GROUP_EXPLAIN, fidelity: false });
    const setup = await setupModel(m);
    for (const [name, applicant] of [
      ['flipping', FLIPPING],
      ['steady', STEADY],
    ] as const) {
      const { bundle } = await proveModel(m, setup, applicant);
      const file = path.join(dir, `${name}.json`);
      await writeFile(file, JSON.stringify(bundle, null, 2));
      bundles[name] = { file, bundle };
    }
    const vkeyFile = path.join(dir, 'vkey.json');
    await writeFile(vkeyFile, JSON.stringify(setup.vkey));
    pageFile = path.join(dir, 'verify.html');
    await writeVerifyPage(pageFile, vkeyFile);
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
  });

  async function verifyIn(file: string): Promise<{ page: Page; state: string; rows: Record<string, string>; classes: Record<string, string[]> }> {
    const page = browser.pages()[0] ?? (await browser.newPage());
    await page.goto(pathToFileURL(pageFile).href);
    await page.waitForSelector('html[data-ready=true]');
    await page.setInputFiles('#bundle-file', file);
    await page.waitForFunction((name) => document.getElementById('reason')!.textContent!.startsWith(`loaded ${name}`), path.basename(file));
    await page.click('#verify');
    await page.waitForFunction(() => !['idle', 'working'].includes(document.getElementById('status')!.dataset.state!), null, { timeout: 60_000 });
    const { state, rows, classes } = await page.evaluate(() => {
      const rows: Record<string, string> = {};
      const classes: Record<string, string[]> = {};
      for (const dt of document.querySelectorAll('#details dt')) {
        const dd = dt.nextElementSibling!;
        rows[dt.textContent!] = dd.textContent!;
        classes[dt.textContent!] = [...dd.querySelectorAll('span')].map((s) => s.className);
      }
      return { state: document.getElementById('status')!.dataset.state!, rows, classes };
    });
    return { page, state, rows, classes };
  }

  it('an applicant whose decision does not depend on group: its reasons, and fairness stated calmly', async () => {
    const { bundle, file } = bundles.steady;
    const { page, state, rows, classes } = await verifyIn(file);
    expect(state).toBe('valid');
    const reasons = bundle.outputs.reasons!;
    expect(reasons).toHaveLength(2);
    expect(rows['Principal reasons']).toContain(reasons.map((r, i) => `${i + 1}. ${r.feature} (${contributionText(r.contribution)})`).join(', '));
    expect(rows['Principal reasons']).toContain("Proven: each reason's number is the change in the model's score");
    expect(rows['Fairness']).toBe('Decision unchanged for every value of: group (proven)');
    expect(classes['Fairness']).toEqual(['calm']);
    await page.screenshot({ path: path.join(SHOTS, 'explain-1-fairness-unchanged.png'), fullPage: true });
  });

  it('an applicant whose decision flips with group: a clear warning naming the tested values', async () => {
    const { bundle, file } = bundles.flipping;
    expect(bundle.outputs.fairness).toEqual([{ feature: 'group', unchanged: false }]);
    const { page, state, rows, classes } = await verifyIn(file);
    expect(state).toBe('valid');
    expect(rows['Fairness']).toBe('Decision CHANGES with the value of: group (tested: 0, 1) (proven)');
    expect(classes['Fairness']).toEqual(['warn fairness-changed']);
    expect(rows['Principal reasons']).toMatch(/^1\. group \(-1\), 2\. x0 \(-0\.\d+\)/);
    await page.screenshot({ path: path.join(SHOTS, 'explain-2-fairness-changes.png'), fullPage: true });
  });

  it('shows no reasons or fairness rows for a bundle whose edited fairness bit does not verify', async () => {
    const edited = structuredClone(bundles.flipping.bundle);
    edited.outputs.fairness![0].unchanged = true;
    const file = path.join(dir, 'edited.json');
    await writeFile(file, JSON.stringify(edited));
    const { state, rows } = await verifyIn(file);
    expect(state).toBe('invalid');
    expect(rows['Fairness']).toBeUndefined();
    expect(rows['Principal reasons']).toBeUndefined();
  });
});
