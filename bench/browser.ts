// Browser benchmark: the loan bundle verified by the standalone verification page in
// headless Chromium (the key embedded with --vkey), and the page's size.
// Run by `npm run bench` (skipped, with the reason, when Chromium is not installed).
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeVerifyPage } from '../src/cli/commands/verify-page.ts';
import { compileModel, proveModel, setupModel } from '../src/pipeline/index.ts';
import { pageScript } from '../src/web/page.ts';
import { CHROMIUM, HAVE_CHROMIUM, launchChromium } from '../test/helpers/chromium.ts';
import { REPO } from './models.ts';

const RUNS = 5;

export async function browserBench(): Promise<string> {
  if (!HAVE_CHROMIUM) return `Browser benchmark skipped: no Chromium at ${CHROMIUM} (apt-get install chromium).`;
  const loan = path.join(REPO, 'examples', 'loan');
  const m = await compileModel(path.join(loan, 'loan-model.onnx'), { fidelity: false });
  const setup = await setupModel(m);
  const { bundle } = await proveModel(m, setup, JSON.parse(await readFile(path.join(loan, 'applicant.json'), 'utf8')));
  const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-bench-page-'));
  await writeFile(path.join(dir, 'bundle.json'), JSON.stringify(bundle));
  const b0 = performance.now();
  const script = await pageScript();
  const buildMs = performance.now() - b0;
  const page = await writeVerifyPage(path.join(dir, 'verify.html'), setup.vkeyFile);

  const browser = await launchChromium();
  try {
    const tab = browser.pages()[0] ?? (await browser.newPage());
    await tab.goto(pathToFileURL(page.file).href);
    await tab.waitForSelector('html[data-ready=true]');
    await tab.setInputFiles('#bundle-file', path.join(dir, 'bundle.json'));
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      await tab.click('#verify');
      await tab.waitForFunction(() => !['idle', 'working'].includes(document.getElementById('status')!.dataset.state!));
      const r = await tab.evaluate(() => ({
        state: document.getElementById('status')!.dataset.state,
        details: document.getElementById('details')!.textContent ?? '',
      }));
      if (r.state !== 'valid') throw new Error(`the page did not verify the bench bundle: ${r.state}`);
      times.push(Number(/Verified in(\d+) ms/.exec(r.details)![1]));
    }
    const warm = times.slice(1).sort((a, b) => a - b)[Math.floor((RUNS - 1) / 2)];
    return [
      '## Verification page (loan bundle, standalone file from file://, headless Chromium)',
      '',
      '| first verify ms | later verify ms (median of 4) | page KB | script KB | script build ms |',
      '|---|---|---|---|---|',
      `| ${times[0]} | ${warm} | ${Math.round(page.bytes / 1024)} | ${Math.round(script.code.length / 1024)} | ${Math.round(buildMs)} |`,
      '',
      'Times are what the page reports (parse, key hash, checks, pairing; the first includes building the curve in WebAssembly). The script is esbuild-bundled snarkjs, circomlibjs Poseidon (most of its size: round constants) and the shared verifier checks.',
    ].join('\n');
  } finally {
    await browser.close();
  }
}
