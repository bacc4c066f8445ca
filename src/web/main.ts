// The verification page's script (bundled for the browser by src/web/page.ts). All the
// checking is in session.ts, src/bundle and src/verifier; this file wires the form to it.
import { InputProblem, KEY_SOURCE_LABEL, type KeySource, type Outcome, verifyHere } from './session.ts';
import type { PageConfig } from './template.ts';
import { decisionLabel } from '../bundle/index.ts';
import { fairnessLines, REASONS_NOTE, reasonsLine } from '../bundle/explain-text.ts';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const config = JSON.parse($('page-config').textContent ?? '{}') as PageConfig;

const form = $<HTMLFormElement>('form');
const bundleText = $<HTMLTextAreaElement>('bundle-text');
const bundleFile = $<HTMLInputElement>('bundle-file');
const vkeyFile = $<HTMLInputElement>('vkey-file');
const receiptFile = $<HTMLInputElement>('receipt-file');
const apiKey = $<HTMLInputElement>('api-key');
const drop = $('drop');
const status = $('status');
const reason = $('reason');
const details = $('details');
const receiptResult = $('receipt-result');
const verifyButton = $<HTMLButtonElement>('verify');

let vkeyText: { text: string; name: string } | null = null;
let receiptText: string | null = null;

function setStatus(state: 'idle' | 'working' | 'valid' | 'invalid' | 'error', text: string, why: string) {
  status.dataset.state = state;
  status.textContent = text;
  reason.textContent = why;
}

function showProblem(message: string) {
  setStatus('error', 'CANNOT VERIFY', message);
  details.hidden = true;
  receiptResult.hidden = true;
}

async function readFile(input: HTMLInputElement): Promise<{ text: string; name: string } | null> {
  const f = input.files?.[0];
  return f ? { text: await f.text(), name: f.name } : null;
}

async function loadBundleFile(f: File) {
  bundleText.value = await f.text();
  setStatus('idle', 'NOT VERIFIED YET', `loaded ${f.name}: press Verify`);
}

bundleFile.addEventListener('change', () => {
  const f = bundleFile.files?.[0];
  if (f) loadBundleFile(f).catch((e) => showProblem(`cannot read ${f.name}: ${(e as Error).message}`));
});
vkeyFile.addEventListener('change', async () => {
  vkeyText = await readFile(vkeyFile);
  $('vkey-status').textContent = vkeyText ? `loaded ${vkeyText.name}` : '';
  if (vkeyText) (document.querySelector('input[name=key-source][value=file]') as HTMLInputElement).checked = true;
});
receiptFile.addEventListener('change', async () => {
  const r = await readFile(receiptFile);
  receiptText = r?.text ?? null;
  $('receipt-status').textContent = r ? `loaded ${r.name}: checked with the next Verify` : 'No receipt loaded.';
});
$('receipt-clear').addEventListener('click', () => {
  receiptFile.value = '';
  receiptText = null;
  receiptResult.hidden = true;
  $('receipt-status').textContent = 'No receipt loaded.';
});

// Dropping a file anywhere must not make the browser navigate away to it.
for (const ev of ['dragover', 'drop'] as const) window.addEventListener(ev, (e) => e.preventDefault());
drop.addEventListener('dragover', () => drop.classList.add('over'));
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  drop.classList.remove('over');
  const f = (e as DragEvent).dataTransfer?.files?.[0];
  if (f) loadBundleFile(f).catch((err) => showProblem(`cannot read ${f.name}: ${(err as Error).message}`));
});

function keySource(): KeySource {
  const kind = (document.querySelector('input[name=key-source]:checked') as HTMLInputElement | null)?.value ?? 'bundle';
  if (kind === 'service') return { kind, apiKey: apiKey.value };
  if (kind === 'page') return { kind, vkey: config.vkey };
  if (kind === 'file') {
    if (!vkeyText) throw new InputProblem('choose the verification key file (or pick another key source)');
    return { kind, ...vkeyText };
  }
  return { kind: 'bundle' };
}

function row(term: string, ...content: (string | Node)[]) {
  const dt = document.createElement('dt');
  dt.textContent = term;
  const dd = document.createElement('dd');
  dd.append(...content);
  details.append(dt, dd);
  return dd;
}

function span(text: string, cls: string) {
  const s = document.createElement('span');
  s.className = cls;
  s.textContent = text;
  return s;
}

function decisionText(o: Outcome): string {
  const d = o.result.outputs?.decision;
  if (!d || !o.result.model) return 'none (this model has no decision head)';
  return d.map((v) => decisionLabel(o.result.model!, v)).join('; ');
}

function showOutcome(o: Outcome) {
  const { result: r, bundle: b } = o;
  const receiptMismatch = o.receipt !== null && !o.receipt.matches;
  // The question asked comes first: with a receipt, "was this applicant's data used?".
  if (r.valid && receiptMismatch) setStatus('invalid', 'RECEIPT DOES NOT MATCH', `the proof verifies, but not for this applicant's data: ${o.receipt!.reason}`);
  else setStatus(r.valid ? 'valid' : 'invalid', r.valid ? 'VALID' : 'INVALID', r.field ? `${r.reason} (field ${r.field})` : r.reason);
  details.replaceChildren();
  const key = row('Verification key', span(r.vkeyHash, 'mono'), document.createElement('br'), `key ${KEY_SOURCE_LABEL[o.keySource]}`);
  if (o.keySource === 'bundle')
    key.append(
      document.createElement('br'),
      span('Not an independent check: compare this hash with the one the model\u2019s owner published, or load the published key.', 'warn'),
    );
  if (r.vkeyHash !== o.claimedVkeyHash) key.append(document.createElement('br'), `the bundle claims key ${o.claimedVkeyHash}`);
  const p1 = r.phase1;
  // A key alone says "development" or nothing: which phase 1 it came from takes the ptau file (`zkinfer audit`).
  row('Setup, phase 1', p1.kind === 'development' ? span(`${p1.label}. Not for real decisions.`, 'danger') : span(p1.label, 'warn'));
  if (!r.valid) {
    row('Outputs', 'not shown: the proof does not verify, so nothing it claims is proven');
    row('Verified in', `${Math.round(o.verifyMs)} ms, in this browser`);
    details.hidden = false;
    showReceipt(o);
    return;
  }
  const p2 = row('Setup, phase 2', 'not checked on this page: ');
  const code = document.createElement('code');
  code.textContent = 'zkinfer audit';
  const cmd = document.createElement('code');
  cmd.textContent = 'npx zkinfer audit --service <URL> --model-id <id> --api-key <verifier key>';
  const files = document.createElement('code');
  files.textContent = 'npx zkinfer audit model.onnx --descriptor model.json --vkey vkey.json --zkey circuit.zkey --ptau setup.ptau --r1cs main.r1cs';
  // Everything needed here: a standalone page's reader may have no README.
  p2.append(
    code,
    ' checks that the key was made from this model\u2019s circuit and lists its contributions. In a checkout of zkinfer ' +
      '(Node.js 20+, npm ci), against the service that published the model: ',
    cmd,
    '; or with the files the model\u2019s owner published: ',
    files,
    '. Exit 0: the key encodes the model.',
  );
  const s = b.setup;
  row(
    'Claimed by the prover',
    span(
      `not checked: ${s.insecure ? 'development' : s.ptau.kind} powers of tau ${s.ptau.name}, ${s.phase2.length} phase-2 ` +
        `contribution(s), created ${s.createdAt}`,
      'claimed',
    ),
  );
  row('Model id', span(r.modelId ?? '', 'mono'));
  const params = b.model.parameters;
  if (params) {
    const p = row('Parameters', 'private, not published; proven to be the ones committed to by ');
    p.append(span(params.commitment, 'mono'), ` (${params.count} committed field elements, the same for every decision under this key)`);
  }
  const out = r.outputs!;
  if (out.inputs) row('Public input', out.inputs.join(', '));
  row(
    'Outputs',
    `${out.values.join(', ')} (fixed-point integers ` +
      `${out.integers.join(', ')}${b.model.head === 'none' ? '' : b.model.head === 'argmax' ? '; class scores' : '; logits'})`,
  );
  if (out.probability) row('Probability', `${out.probability.map((p) => p.toFixed(4)).join(', ')} (computed from the proven logits, outside the proof)`);
  row('Decision', span(decisionText(o), 'strong'));
  showExplain(o);
  if (r.inputCommitment) row('Input commitment', span(r.inputCommitment, 'mono'));
  row('Nonce', span(r.nonce ?? '', 'mono'));
  row('Verified in', `${Math.round(o.verifyMs)} ms, in this browser`);
  details.hidden = false;
  showReceipt(o);
}

/** Proven reasons and fairness, in the words every verifier uses (src/bundle/explain-text.ts). */
function showExplain(o: Outcome) {
  const out = o.result.outputs!;
  const reasons = reasonsLine(out);
  if (reasons) {
    const dd = row('Principal reasons', span(reasons.replace(/^Principal reasons: /, ''), 'reasons'));
    dd.append(document.createElement('br'), span(`Proven: ${REASONS_NOTE}.`, 'note'));
  }
  const fairness = fairnessLines(out, o.bundle.model);
  if (fairness.length) {
    const dd = row('Fairness');
    fairness.forEach((line, i) => {
      if (i > 0) dd.append(document.createElement('br'));
      // A decision that changes with a protected feature is a warning; an unchanged one is stated calmly.
      dd.append(span(`${line} (proven)`, line.startsWith('Decision unchanged') ? 'calm' : 'warn fairness-changed'));
    });
  }
}

function showReceipt(o: Outcome) {
  if (!o.receipt) {
    receiptResult.hidden = true;
    return;
  }
  receiptResult.dataset.state = o.receipt.matches ? 'match' : 'mismatch';
  receiptResult.textContent =
    `Receipt ${o.receipt.matches ? 'MATCHES' : 'DOES NOT MATCH'}: ` +
    `${o.receipt.reason}${o.receipt.matches && !o.result.valid ? ' (but the proof itself does not verify)' : ''}`;
  receiptResult.hidden = false;
}

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  verifyButton.disabled = true;
  setStatus('working', 'VERIFYING\u2026', 'running the checks in this browser');
  details.hidden = true;
  receiptResult.hidden = true;
  try {
    showOutcome(await verifyHere(bundleText.value, keySource(), receiptText));
  } catch (err) {
    showProblem(err instanceof InputProblem ? err.message : `unexpected error: ${(err as Error)?.message ?? String(err)}`);
  } finally {
    verifyButton.disabled = false;
  }
});

// Whatever goes wrong, say so on the page rather than leave it blank or stuck.
window.addEventListener('error', (e) => showProblem(`unexpected error: ${e.message}`));
window.addEventListener('unhandledrejection', (e) => showProblem(`unexpected error: ${(e.reason as Error)?.message ?? String(e.reason)}`));
document.documentElement.dataset.ready = 'true';
