// The verification page's markup. Pure: config in, HTML out (src/web/page.ts adds the
// script and style; src/web/main.ts brings it to life).

/** What the page's script reads from the page itself. */
export interface PageConfig {
  /** `service`: served at /verify, may fetch the published key; `standalone`: a saved file, never touches the network. */
  mode: 'service' | 'standalone';
  /** A published verification key embedded when the standalone file was built. */
  vkey: unknown;
  vkeyName: string | null;
  /** Served page: whether the service asks for an API key (it does unless it runs without keys). */
  apiKeyRequired?: boolean;
}

/** Content-Security-Policy of the page: the browser itself refuses any request elsewhere. */
export function pageCsp(mode: PageConfig['mode']): string {
  // ajv compiles the bundle schema with new Function, ffjavascript compiles wasm and runs it in blob: workers.
  const script = mode === 'service' ? "'self' 'unsafe-eval' 'wasm-unsafe-eval'" : "'unsafe-inline' 'unsafe-eval' 'wasm-unsafe-eval'";
  const connect = mode === 'service' ? "'self'" : "'none'";
  return (
    `default-src 'none'; script-src ${script}; style-src 'unsafe-inline'; worker-src blob:; connect-src ${connect}; ` +
    `img-src data:; base-uri 'none'; form-action 'none'`
  );
}

/** JSON safe inside a <script> element (no "</script>", no "<!--"). */
export function scriptJson(v: unknown): string {
  return JSON.stringify(v).replaceAll('<', '\\u003c').replaceAll('\u2028', '\\u2028').replaceAll('\u2029', '\\u2029');
}

export function renderPage(opts: { config: PageConfig; css: string; script: { src: string } | { inline: string } }): string {
  const { config } = opts;
  const standalone = config.mode === 'standalone';
  const vkeyName = config.vkeyName ? ` (<code>${escapeHtml(config.vkeyName)}</code>)` : '';
  const script = 'src' in opts.script ? `<script src="${opts.script.src}" defer></script>` : `<script>${opts.script.inline}</script>`;
  const privacy = standalone
    ? 'This saved page makes no network request at all: the check runs on this machine only.'
    : 'The check runs in this browser. The only request this page makes is for the model\u2019s published key, to the ' +
      'service that served it; the bundle, receipt and features never leave this machine.';
  return (
    `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${standalone ? `<meta http-equiv="Content-Security-Policy" content="${pageCsp('standalone')}">\n` : ''}<meta name="referrer" content="no-referrer">
<title>zkinfer: verify a proof</title>
<style>${opts.css}</style>
<script type="application/json" id="page-config">${scriptJson(config)}</script>
</head>
<body>
<header>
<h1>Verify a zkinfer proof</h1>
<p>Checks, in this browser, a Groth16 proof that a published model made a decision, without seeing the applicant\u2019s data.</p>
</header>
<main>
<form id="form" novalidate aria-label="What to verify">
<section aria-labelledby="h-bundle">
<h2 id="h-bundle">1. Proof bundle</h2>
<div id="drop">
<label for="bundle-file">Bundle file</label>
<p class="hint" id="drop-hint">Drop a bundle.json anywhere on this box, or choose it.</p>
<input type="file" id="bundle-file" accept=".json,application/json" aria-describedby="drop-hint">
</div>
<label for="bundle-text">\u2026or paste the bundle JSON</label>
<textarea id="bundle-text" spellcheck="false" autocomplete="off"></textarea>
</section>
<fieldset>
<legend>2. Verification key (the model\u2019s published one)</legend>
<label class="radio"${standalone ? ' hidden' : ''}><input type="radio" name="key-source" ` +
    `value="service"${standalone ? ' disabled' : ' checked'}> From this service (<code>GET /v1/models/{id}/vkey</code>)</label>
<label class="radio"${config.vkey ? '' : ' hidden'}><input type="radio" name="key-source" ` +
    `value="page"${config.vkey ? ' checked' : ' disabled'}> Embedded in this page${vkeyName}</label>
<label class="radio"><input type="radio" name="key-source" value="file"> From a key file</label>
<label class="radio"><input type="radio" name="key-source" ` +
    `value="bundle"${standalone && !config.vkey ? ' checked' : ''}> The key inside the bundle (not independent: compare ` +
    `its hash)</label>
<div id="service-opts"${standalone ? ' hidden' : ''}>
<label for="api-key">API key${config.apiKeyRequired === false ? ' (not needed: this service runs without keys)' : ' (required)'}</label>
<input type="password" id="api-key" autocomplete="off" aria-describedby="api-key-hint">
<p class="hint" id="api-key-hint">${
      config.apiKeyRequired === false ? 'This service asks for none. ' : 'A verifier (or prover) key of this service, to fetch the published key. '
    }Sent only to this service as <code>Authorization: Bearer</code>.</p>
</div>
<label for="vkey-file">Key file</label>
<input type="file" id="vkey-file" accept=".json,application/json">
<p class="hint" id="vkey-status" aria-live="polite"></p>
</fieldset>
<section aria-labelledby="h-receipt">
<h2 id="h-receipt">3. Applicant receipt (optional)</h2>
<p class="hint" id="receipt-hint">The receipt JSON the prover gave the applicant (salt and features): checks that ` +
    `this proof used that applicant\u2019s data.</p>
<label for="receipt-file">Receipt file</label>
<input type="file" id="receipt-file" accept=".json,application/json" aria-describedby="receipt-hint">
<button type="button" class="secondary" id="receipt-clear">Clear receipt</button>
<p class="hint" id="receipt-status" aria-live="polite">No receipt loaded.</p>
</section>
<button type="submit" id="verify">Verify</button>
</form>
<section id="result" aria-labelledby="h-result">
<h2 id="h-result">Result</h2>
<div id="status" data-state="idle" role="status" aria-live="polite">NOT VERIFIED YET</div>
<p id="reason">Load a bundle and press Verify.</p>
<dl id="details" hidden></dl>
<div id="receipt-result" role="status" aria-live="polite" hidden></div>
</section>
</main>
<footer>${privacy} zkinfer verification page ` +
    `(${standalone ? 'standalone file' : 'served by the zkinfer service'}): Groth16 on BN254 with snarkjs, commitments ` +
    `with circomlibjs Poseidon, both running in this browser.</footer>
${script}
</body>
</html>
`
  );
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
