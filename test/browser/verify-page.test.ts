import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.ts';
import { writeVerifyPage } from '../../src/cli/commands/verify-page.ts';
import type { ProofBundle, Receipt } from '../../src/bundle/format.ts';
import { CEREMONY_POINTS } from '../../src/prover/phase1.ts';
import { vkeyHash } from '../../src/prover/setup.ts';
import { loadConfig } from '../../src/service/config.ts';
import { verifyBundle } from '../../src/verifier/index.ts';
import { CHROMIUM, HAVE_CHROMIUM, launchChromium } from '../helpers/chromium.ts';
import { LOAN_APPLICANT, LOAN_MODEL, REPO } from '../helpers/paths.ts';

if (!HAVE_CHROMIUM) console.warn(`skipping the verification page tests: no Chromium at ${CHROMIUM} (.ci/run installs it with apt-get)`);

const SHOTS = path.join(REPO, 'test-results', 'verify-page');
// The bank proves, the regulator verifies. Tenant "bank", as in test/api: model records
// are shared through artifacts/, and another tenant could not register the same model.
const BANK = 'bank-prover-key-0123456789';
const REGULATOR = 'regulator-verifier-key-0123';

interface PageResult {
  state: string;
  status: string;
  reason: string;
  details: string;
  receipt: string | null;
  verifyMs: number | null;
}

describe.skipIf(!HAVE_CHROMIUM)('verification page in Chromium', () => {
  let app: FastifyInstance | null;
  let base: string;
  let browser: BrowserContext;
  let dir: string;
  let bundle: ProofBundle;
  let receipt: Receipt;
  let publishedHash: string;
  const files: Record<
    'bundle' | 'tampered' | 'malformed' | 'receipt' | 'wrongReceipt' | 'vkey' | 'forgeableVkey' | 'claimsCeremony' | 'editedBits' | 'page',
    string
  > = {} as never;
  const requests: string[] = [];
  const timings: Record<string, number> = {};

  const api = async (method: string, url: string, body?: unknown): Promise<any> => {
    const res = await fetch(base + url, {
      method,
      headers: { authorization: `Bearer ${BANK}`, ...(body !== undefined && !(body instanceof FormData) ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : body instanceof FormData ? body : JSON.stringify(body),
    });
    expect(res.status, `${method} ${url}`).toBeLessThan(300);
    return res.json();
  };
  const until = async (url: string, done: (v: any) => boolean) => {
    for (let i = 0; i < 2400; i++) {
      const v = await api('GET', url);
      if (done(v)) return v;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting on ${url}`);
  };

  beforeAll(async () => {
    const t0 = performance.now();
    dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-page-'));
    await mkdir(SHOTS, { recursive: true });
    app = await buildApp({
      config: {
        ...loadConfig({}),
        dbDir: 'memory://',
        host: '127.0.0.1',
        port: 0,
        redisUrl: null,
        queuePrefix: 'test',
        workerConcurrency: 1,
        workerLockMs: 30_000,
        workerMetricsPort: null,
        bodyLimit: 1 << 22,
        requestTimeoutMs: 30_000,
        rateLimit: 10_000,
        apiKeys: [
          { key: BANK, role: 'prover', tenant: 'bank' },
          { key: REGULATOR, role: 'verifier', tenant: 'bank' },
        ],
      },
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;

    // A real loan proof, through the service: upload, compile and set up, prove.
    const form = new FormData();
    form.append('model', new Blob([await readFile(LOAN_MODEL)]), 'loan-model.onnx');
    const { id: modelId } = await api('POST', '/v1/models', form);
    await until(`/v1/models/${modelId}`, (m) => m.status === 'ready' || m.status === 'failed');
    const { id: proofId } = await api('POST', `/v1/models/${modelId}/proofs`, { input: JSON.parse(await readFile(LOAN_APPLICANT, 'utf8')) });
    bundle = (await until(`/v1/proofs/${proofId}`, (p) => p.status === 'done' || p.status === 'failed')).bundle;
    receipt = await api('GET', `/v1/proofs/${proofId}/receipt`);
    const vkey = await api('GET', `/v1/models/${modelId}/vkey`);
    publishedHash = vkeyHash(vkey);
    timings.proveViaServiceMs = performance.now() - t0;

    const write = async (name: string, content: string) => {
      const f = path.join(dir, name);
      await writeFile(f, content);
      return f;
    };
    const tampered = structuredClone(bundle);
    tampered.publicSignals[2] = (BigInt(tampered.publicSignals[2]!) + 1n).toString();
    const wrongReceipt = structuredClone(receipt);
    wrongReceipt.features[0] = (BigInt(wrongReceipt.features[0]!) + 1n).toString();
    files.bundle = await write('bundle.json', JSON.stringify(bundle, null, 2));
    files.tampered = await write('tampered.json', JSON.stringify(tampered, null, 2));
    files.malformed = await write('malformed.json', JSON.stringify(bundle).slice(0, 500));
    files.receipt = await write('receipt.json', JSON.stringify(receipt, null, 2));
    files.wrongReceipt = await write('wrong-receipt.json', JSON.stringify(wrongReceipt, null, 2));
    files.vkey = await write('vkey.json', JSON.stringify(vkey));
    const claimsCeremony = structuredClone(bundle);
    claimsCeremony.setup.insecure = false;
    claimsCeremony.setup.ptau = { kind: 'ceremony', name: 'powersOfTau28_hez_final_16', power: 16, sha256: 'f'.repeat(64) };
    files.claimsCeremony = await write('claims-ceremony.json', JSON.stringify(claimsCeremony));
    const editedBits = structuredClone(bundle);
    editedBits.model.settings.bits = 14;
    files.editedBits = await write('edited-bits.json', JSON.stringify(editedBits));
    files.forgeableVkey = await write('forgeable-vkey.json', JSON.stringify({ ...vkey, vk_delta_2: vkey.vk_gamma_2 }));

    browser = await launchChromium();
    browser.on('request', (r) => requests.push(r.url()));
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    console.log(`verification page timings (ms): ${JSON.stringify(Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, Math.round(v)])))}`);
  });

  async function open(url = `${base}/verify`): Promise<Page> {
    const page = browser.pages()[0] ?? (await browser.newPage());
    await page.goto(url);
    await page.waitForSelector('html[data-ready=true]');
    return page;
  }

  async function loadBundle(page: Page, file: string) {
    await page.setInputFiles('#bundle-file', file);
    await page.waitForFunction((name) => document.getElementById('reason')!.textContent!.startsWith(`loaded ${name}`), path.basename(file));
  }

  async function loadReceipt(page: Page, file: string) {
    await page.setInputFiles('#receipt-file', file);
    await page.waitForFunction((name) => document.getElementById('receipt-status')!.textContent!.startsWith(`loaded ${name}`), path.basename(file));
  }

  async function verify(page: Page, how: 'click' | 'keyboard' = 'click'): Promise<PageResult> {
    if (how === 'click') await page.click('#verify');
    else await page.keyboard.press('Enter');
    await page.waitForFunction(() => !['idle', 'working'].includes(document.getElementById('status')!.dataset.state!), null, { timeout: 60_000 });
    return page.evaluate(() => {
      const text = (id: string) => document.getElementById(id)!.textContent ?? '';
      const receipt = document.getElementById('receipt-result')!;
      const ms = /Verified in(\d+) ms/.exec(text('details'));
      return {
        state: document.getElementById('status')!.dataset.state!,
        status: text('status'),
        reason: text('reason'),
        details: text('details'),
        receipt: receipt.hidden ? null : receipt.textContent,
        verifyMs: ms ? Number(ms[1]) : null,
      };
    });
  }

  const decisionText = () => (bundle.outputs.decision![0] === 1 ? '1: positive' : '0: negative');
  const shot = (page: Page, name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

  it('verifies the loan bundle against the key the service publishes, with the applicant receipt, in well under a second', async () => {
    const page = await open();
    await loadBundle(page, files.bundle);
    await loadReceipt(page, files.receipt);
    await page.fill('#api-key', REGULATOR);
    const r = await verify(page);
    expect(r).toMatchObject({ state: 'valid', status: 'VALID', reason: 'proof verifies' });
    expect(r.details).toContain(bundle.model.id);
    expect(r.details).toContain(publishedHash);
    expect(r.details).toContain('published by this service');
    expect(r.details).toContain('DEVELOPMENT powers of tau');
    expect(r.details).toContain('Claimed by the prover');
    expect(await page.locator('#details .danger').count()).toBe(1);
    expect(r.details).toContain(`Decision${decisionText()}`);
    expect(r.details).toContain(`Input commitment${bundle.publicSignals[1]}`);
    expect(r.details).toContain(`Nonce${bundle.nonce}`);
    expect(r.receipt).toContain('Receipt MATCHES');
    timings.firstBrowserVerifyMs = r.verifyMs!;
    await shot(page, '1-valid-with-receipt');
    // Once the curve's wasm is built, a verification is the pairing alone.
    timings.secondBrowserVerifyMs = (await verify(page)).verifyMs!;
    expect(r.verifyMs).toBeLessThan(5000);
    console.log(`loan bundle verified in the browser in ${r.verifyMs} ms (first), ${timings.secondBrowserVerifyMs} ms (again)`);
  });

  it('is operated with the keyboard: a pasted bundle, Tab to the Verify button, Enter', async () => {
    const page = await open();
    await page.fill('#bundle-text', await readFile(files.bundle, 'utf8'));
    await page.fill('#api-key', REGULATOR);
    for (let i = 0; i < 20 && (await page.evaluate(() => document.activeElement?.id)) !== 'verify'; i++) await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('verify');
    expect((await verify(page, 'keyboard')).state).toBe('valid');
  });

  it('takes a bundle dropped on the drop zone', async () => {
    const page = await open();
    const text = await readFile(files.bundle, 'utf8');
    const dataTransfer = await page.evaluateHandle((t) => {
      const dt = new DataTransfer();
      dt.items.add(new File([t], 'dropped.json', { type: 'application/json' }));
      return dt;
    }, text);
    await page.dispatchEvent('#drop', 'drop', { dataTransfer });
    await page.waitForFunction(() => document.getElementById('reason')!.textContent!.startsWith('loaded dropped.json'));
    expect(await page.inputValue('#bundle-text')).toBe(text);
    await page.fill('#api-key', REGULATOR);
    expect((await verify(page)).state).toBe('valid');
  });

  it('says INVALID, with the same reason as the Node verifier, when one public signal changed', async () => {
    const page = await open();
    await loadBundle(page, files.tampered);
    await page.fill('#api-key', REGULATOR);
    const r = await verify(page);
    const node = await verifyBundle(JSON.parse(await readFile(files.tampered, 'utf8')), { vkey: JSON.parse(await readFile(files.vkey, 'utf8')) });
    expect(node.valid).toBe(false);
    expect(r).toMatchObject({ state: 'invalid', status: 'INVALID', reason: `${node.reason} (field ${node.field})` });
    expect(r.reason).toMatch(/pairing check failed/);
    expect(r.details).toContain('not shown: the proof does not verify');
    await shot(page, '2-invalid-signal-changed');
  });

  it('explains a malformed file, a wrong document, a missing API key and a forgeable key instead of going blank', async () => {
    const page = await open();
    await loadBundle(page, files.malformed);
    let r = await verify(page);
    expect(r).toMatchObject({ state: 'error', status: 'CANNOT VERIFY' });
    expect(r.reason).toMatch(/^the bundle is not valid JSON/);
    await shot(page, '3-malformed-file');

    await loadBundle(page, files.receipt);
    expect((await verify(page)).reason).toMatch(/this is an applicant receipt, not a proof bundle/);

    await loadBundle(page, files.bundle);
    r = await verify(page);
    expect(r.state).toBe('error');
    expect(r.reason).toMatch(/service refused the key request \(401.*enter a verifier API key/);

    await page.setInputFiles('#vkey-file', files.forgeableVkey);
    await page.waitForFunction(() => document.getElementById('vkey-status')!.textContent!.startsWith('loaded'));
    r = await verify(page);
    expect(r.state).toBe('invalid');
    expect(r.reason).toMatch(/gamma == delta.*\(field vkey\.vk_delta_2\)/);
  });

  it('checks the receipt: a wrong feature does not match', async () => {
    const page = await open();
    await loadBundle(page, files.bundle);
    await page.setInputFiles('#vkey-file', files.vkey);
    await page.waitForFunction(() => document.getElementById('vkey-status')!.textContent!.startsWith('loaded'));
    await loadReceipt(page, files.wrongReceipt);
    const r = await verify(page);
    // The question asked ("was this applicant's data used?") is the headline.
    expect(r).toMatchObject({ state: 'invalid', status: 'RECEIPT DOES NOT MATCH' });
    expect(r.reason).toMatch(/^the proof verifies, but not for this applicant's data/);
    expect(r.details).toContain('loaded from a file');
    expect(r.details).toContain(publishedHash);
    expect(r.receipt).toMatch(/^Receipt DOES NOT MATCH: the commitment recomputed from the receipt differs/);
    await shot(page, '4-receipt-wrong-feature');
  });

  it('shows a development key as development whatever the bundle claims, and nothing unproven', async () => {
    const page = await open();
    await page.setInputFiles('#vkey-file', files.vkey);
    await page.waitForFunction(() => document.getElementById('vkey-status')!.textContent!.startsWith('loaded'));
    await loadBundle(page, files.claimsCeremony);
    let r = await verify(page);
    expect(r).toMatchObject({ state: 'valid', status: 'VALID' });
    expect(r.details).toContain('DEVELOPMENT powers of tau');
    expect(await page.locator('#details .danger').count()).toBe(1);
    expect(r.details).toContain('Claimed by the provernot checked: ceremony powers of tau powersOfTau28_hez_final_16');
    await shot(page, '6-development-key-claiming-ceremony');

    // The decoding settings edited (bits 32 -> 14): INVALID, naming the field, nothing decoded.
    await loadBundle(page, files.editedBits);
    r = await verify(page);
    expect(r).toMatchObject({ state: 'invalid', status: 'INVALID' });
    expect(r.reason).toMatch(/does not hash to the model commitment.*\(field model\)/);
    expect(r.details).not.toMatch(/Decision|Nonce|Input commitment|Model id/);
    await shot(page, '7-edited-settings-invalid');
  });

  it('a key carrying a public ceremony\'s alpha and beta: phase 1 is "not checked", the ceremony is never named', async () => {
    // Anyone can copy those two points into a powers of tau of their own: they prove nothing.
    const vkey = JSON.parse(await readFile(files.vkey, 'utf8'));
    const copied = { ...vkey, vk_alpha_1: [...CEREMONY_POINTS.alpha1, '1'], vk_beta_2: [...CEREMONY_POINTS.beta2.map((c) => [...c]), ['1', '0']] };
    const file = path.join(dir, 'copied-points-vkey.json');
    await writeFile(file, JSON.stringify(copied));
    const page = await open();
    await page.setInputFiles('#vkey-file', file);
    await page.waitForFunction(() => document.getElementById('vkey-status')!.textContent!.startsWith('loaded'));
    await loadBundle(page, files.bundle);
    const r = await verify(page);
    expect(r.state).toBe('invalid');
    expect(r.details).toContain('Setup, phase 1not checked: a key cannot show which powers of tau it came from');
    expect(r.details).not.toMatch(/hermez/i);
    expect(await page.locator('#details .danger').count()).toBe(0);
    await shot(page, '7b-copied-ceremony-points-not-checked');
  });

  it('made no request to any host but the test server', () => {
    const elsewhere = requests.filter((u) => !u.startsWith(base + '/') && !u.startsWith('blob:') && !u.startsWith('data:'));
    expect(requests.some((u) => u.includes('/v1/models/'))).toBe(true);
    expect(elsewhere).toEqual([]);
  });

  it('works as one standalone file from file://, with the service stopped', async () => {
    const t0 = performance.now();
    files.page = path.join(dir, 'verify.html');
    const written = await writeVerifyPage(files.page, files.vkey);
    timings.standaloneWriteMs = performance.now() - t0;
    console.log(`standalone page: ${Math.round(written.bytes / 1024)} KB`);
    expect(written.vkeyHash).toBe(publishedHash);
    // Stop the service. Chromium keeps preconnected sockets open, which close() would wait out.
    const closing = app!.close();
    app!.server.closeAllConnections();
    await closing;
    app = null;
    await expect(fetch(`${base}/verify`)).rejects.toThrow();

    requests.length = 0;
    const page = await open(pathToFileURL(files.page).href);
    await loadBundle(page, files.bundle);
    await loadReceipt(page, files.receipt);
    const r = await verify(page);
    expect(r).toMatchObject({ state: 'valid', status: 'VALID' });
    expect(r.details).toContain('embedded in this page');
    expect(r.details).toContain(publishedHash);
    expect(r.receipt).toContain('Receipt MATCHES');
    timings.standaloneBrowserVerifyMs = r.verifyMs!;
    await shot(page, '5-standalone-file');

    await loadBundle(page, files.tampered);
    expect((await verify(page)).state).toBe('invalid');
    expect(requests.filter((u) => !u.startsWith('file://') && !u.startsWith('blob:'))).toEqual([]);
  });
});
