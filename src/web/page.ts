// Builds the verification page: src/web/main.ts bundled for the browser with esbuild
// (snarkjs' and ffjavascript's browser builds, circomlibjs' Poseidon alone), with the
// markup of template.ts. Built once per process, in about 0.2 s.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { type PageConfig, renderPage } from './template.ts';
import { sha256Text } from '../core/hash.ts';
import { sourceFile } from '../core/package-root.ts';

const require = createRequire(import.meta.url);
const HERE = sourceFile('web');

export interface PageScript {
  code: string;
  /** sha256 of the code, for cache validation and the script URL. */
  hash: string;
}

/**
 * circomlibjs' package entry pulls in every hash and contract generator: resolve it to
 * its Poseidon module alone, and let that share snarkjs' copy of ffjavascript.
 */
const narrowImports: esbuild.Plugin = {
  name: 'zkinfer-narrow-imports',
  setup(b) {
    const circomlibjs = path.resolve(path.dirname(require.resolve('circomlibjs')), '..');
    const snarkjsDir = path.resolve(path.dirname(require.resolve('snarkjs')), '..');
    b.onResolve({ filter: /^circomlibjs$/ }, () => ({ path: path.join(circomlibjs, 'src', 'poseidon_wasm.js') }));
    b.onResolve({ filter: /^ffjavascript$/ }, async (args) => {
      if (!args.importer.startsWith(circomlibjs + path.sep)) return undefined;
      return b.resolve('ffjavascript', { kind: args.kind, resolveDir: snarkjsDir, pluginData: 'shared' });
    });
  },
};

let script: Promise<PageScript> | undefined;

/** The page's script, minified; `</script` never appears in it, so it can be inlined. */
export function pageScript(): Promise<PageScript> {
  script ??= (async () => {
    const r = await esbuild.build({
      entryPoints: [path.join(HERE, 'main.ts')],
      bundle: true,
      platform: 'browser',
      format: 'iife',
      target: 'es2022',
      minify: true,
      write: false,
      legalComments: 'none',
      logLevel: 'silent',
      plugins: [narrowImports],
    });
    const code = r.outputFiles[0]!.text;
    if (/<\/script/i.test(code)) throw new Error('the page script contains "</script": it cannot be inlined');
    return { code, hash: sha256Text(code) };
  })();
  script.catch(() => (script = undefined));
  return script;
}

let css: Promise<string> | undefined;
const pageCss = () => (css ??= readFile(path.join(HERE, 'page.css'), 'utf8'));

/** The page as the service serves it at /verify, loading its script from `scriptUrl`. */
export async function servedPage(scriptUrl: string, apiKeyRequired = true): Promise<string> {
  return renderPage({ config: { mode: 'service', vkey: null, vkeyName: null, apiKeyRequired }, css: await pageCss(), script: { src: scriptUrl } });
}

/** One self-contained HTML file (script and style inline, no request to anywhere), optionally with a published key in it. */
export async function standalonePage(opts: { vkey?: unknown; vkeyName?: string } = {}): Promise<string> {
  const config: PageConfig = { mode: 'standalone', vkey: opts.vkey ?? null, vkeyName: opts.vkey ? (opts.vkeyName ?? 'published key') : null };
  return renderPage({ config, css: await pageCss(), script: { inline: (await pageScript()).code } });
}
