import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ZkinferError } from '../core/errors.ts';
import { contribute } from './ceremony.ts';
import { sha256Bytes } from '../core/hash.ts';

export interface RemoteContribution {
  modelId: string;
  name: string;
  /** blake2b-512 contribution hash: what the contributor publishes. */
  contributionHash: string;
  index: number;
  zkeySha256: string;
  baseSha256: string;
  /** Uploads made (1 unless another contribution came first and this one started over). */
  attempts: number;
  /** The service's check of the upload, and the local contribution, in milliseconds. */
  checkMs: number;
  contributeMs: number;
}

interface Options {
  url: string;
  model: string;
  apiKey?: string;
  tenant?: string;
  name: string;
  /** How many uploads to try: each 409 (the base moved) starts over on the newer key. */
  attempts?: number;
  log?: (m: string) => void;
}

async function errorOf(res: Response): Promise<{ code: string; message: string; field?: string }> {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    return { code: `HTTP_${res.status}`, message: text.slice(0, 500) };
  }
}

/** A refusal as the CLI reports it: a refused or finalized ceremony exits 1, a bad key or model 2. */
function refusal(status: number, e: { code: string; message: string; field?: string }, what: string): Error {
  const message = `the service refused ${what} (${status} ${e.code}): ${e.message}`;
  if ((status === 400 || status === 409) && e.code.startsWith('CEREMONY')) return new ZkinferError('CEREMONY', message, e.field);
  if (status === 404) return new ZkinferError('NOT_FOUND', message, e.field);
  if (status === 401 || status === 403) return new ZkinferError('SETTINGS', message, 'api-key');
  return new Error(message);
}

/**
 * Contributes to a model's ceremony on a zkinfer service: downloads the latest key (checking
 * its sha256), adds one contribution with fresh local entropy (the entropy never leaves this
 * process), and uploads the new key naming the key it extends. When another contribution
 * came first (409 CEREMONY_BASE_MOVED) it starts over on the newer key, up to `attempts` times.
 */
export async function contributeOverRest(o: Options): Promise<RemoteContribution> {
  const log = o.log ?? (() => {});
  const base = o.url.replace(/\/+$/, '');
  const q = o.tenant ? `?tenant=${encodeURIComponent(o.tenant)}` : '';
  const headers: Record<string, string> = o.apiKey ? { authorization: `Bearer ${o.apiKey}` } : {};
  const attempts = o.attempts ?? 5;
  const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-contribute-'));
  try {
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const got = await fetch(`${base}/v1/models/${o.model}/ceremony/zkey${q}`, { headers });
      if (!got.ok) {
        const e = await errorOf(got);
        throw refusal(got.status, e, 'the download');
      }
      const bytes = Buffer.from(await got.arrayBuffer());
      const baseSha = sha256Bytes(bytes);
      const said = got.headers.get('x-zkinfer-sha256');
      if (said !== baseSha)
        throw new ZkinferError('ARTIFACT_CORRUPT', `the downloaded key hashes to ${baseSha}, not the ${said} the service announced`, 'zkey');
      const inZkey = path.join(dir, `base-${attempt}.zkey`);
      const outZkey = path.join(dir, `mine-${attempt}.zkey`);
      await writeFile(inZkey, bytes);
      log(`contributing to the key ${baseSha} (${bytes.length} bytes) as "${o.name}" ...`);
      const t0 = performance.now();
      const mine = await contribute(inZkey, outZkey, o.name);
      const contributeMs = performance.now() - t0;
      log(`uploading (contribution ${mine.hash.slice(0, 16)}..., attempt ${attempt}/${attempts}); the service checks it against the circuit ...`);
      const up = await fetch(`${base}/v1/models/${o.model}/ceremony/contributions${q}`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/octet-stream', 'x-zkinfer-base-sha256': baseSha },
        body: await readFile(outZkey),
      });
      if (up.ok) {
        const r = (await up.json()) as { index: number; hash: string; zkeySha256: string; checkMs: number };
        if (r.hash !== mine.hash) throw new ZkinferError('CEREMONY', `the service recorded the contribution hash ${r.hash}, not ours (${mine.hash})`, 'hash');
        return {
          modelId: o.model,
          name: o.name,
          contributionHash: mine.hash,
          index: r.index,
          zkeySha256: r.zkeySha256,
          baseSha256: baseSha,
          attempts: attempt,
          checkMs: r.checkMs,
          contributeMs: Math.round(contributeMs),
        };
      }
      const e = await errorOf(up);
      if (up.status === 409 && e.code === 'CEREMONY_BASE_MOVED') {
        log(`another contribution came first (${e.message}); starting over on the newer key`);
        continue;
      }
      throw refusal(up.status, e, 'the contribution');
    }
    throw new ZkinferError('CEREMONY', `other contributions came first ${attempts} times: try again later (or raise --attempts)`, 'attempts');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
