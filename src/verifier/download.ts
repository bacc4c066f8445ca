// `zkinfer audit --service`: everything an audit needs, fetched from a zkinfer service's
// public routes (a verifier key will do) into a folder of the auditor's own.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { ZkinferError } from '../core/errors.ts';
import { descriptorIn } from './descriptor-options.ts';
import type { BundleModel } from '../bundle/descriptor.ts';

export interface DownloadOptions {
  url: string;
  modelId: string;
  apiKey?: string;
  tenant?: string;
  /** Default: the latest ready version. */
  version?: number;
  /** A private model's ONNX file, received from its owner in confidence (the service never serves it). */
  localModel?: string;
  /** Where to put the files (created); default: a fresh temporary folder. */
  dir?: string;
  log?: (m: string) => void;
}

export interface Downloaded {
  dir: string;
  version: number;
  model: string;
  vkey: string;
  zkey: string;
  ptau: string;
  r1cs: string;
  /** The model record as the service answered it (it holds the descriptor). */
  record: string;
  descriptor: BundleModel;
}

const SAFE_NAME = /^[A-Za-z0-9._-]{1,200}$/;

async function refusal(res: Response, what: string): Promise<ZkinferError> {
  const text = await res.text().catch(() => '');
  let e: { code?: string; message?: string; field?: string } = {};
  try {
    e = JSON.parse(text);
  } catch {
    e = { message: text.slice(0, 300) };
  }
  const message = `the service refused ${what} (${res.status}${e.code ? ` ${e.code}` : ''}): ${e.message ?? ''}`.trim();
  if (res.status === 401 || res.status === 403) return new ZkinferError('SETTINGS', message, 'api-key');
  if (res.status === 404) return new ZkinferError('NOT_FOUND', message, e.field ?? 'model-id');
  return new ZkinferError('NOT_FOUND', message, e.field);
}

/**
 * Downloads a model version's ONNX (and external data), verification key, zkey, ptau, r1cs
 * and model record (with the descriptor) from a zkinfer service. Files stream to disk (a
 * ptau can be large) and each is checked against the sha256 the service announces with it.
 * Nothing downloaded is trusted: the audit recompiles and checks every link.
 */
export async function downloadAudit(o: DownloadOptions): Promise<Downloaded> {
  const log = o.log ?? (() => {});
  let base: URL;
  try {
    base = new URL(o.url.replace(/\/+$/, '') + '/');
  } catch {
    throw new ZkinferError('SETTINGS', `--service must be a URL (got "${o.url}")`, 'service');
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new ZkinferError('SETTINGS', '--service must be an http(s) URL', 'service');
  if (!/^[0-9a-f]{64}$/.test(o.modelId)) throw new ZkinferError('SETTINGS', '--model-id must be a model id (64 hex digits)', 'model-id');
  const headers: Record<string, string> = o.apiKey ? { authorization: `Bearer ${o.apiKey}` } : {};
  const query = (extra: Record<string, string> = {}) => {
    const q = new URLSearchParams({ ...(o.tenant ? { tenant: o.tenant } : {}), ...extra }).toString();
    return q ? `?${q}` : '';
  };
  const at = (p: string) => new URL(`v1/models/${o.modelId}${p}`, base).toString();
  const get = async (p: string, what: string) => {
    let res: Response;
    try {
      res = await fetch(at(p), { headers });
    } catch (e) {
      throw new ZkinferError('NOT_FOUND', `cannot reach the service at ${base.origin}: ${(e as Error).message}`, 'service');
    }
    if (!res.ok) throw await refusal(res, what);
    return res;
  };

  const dir = o.dir ?? (await mkdtemp(path.join(tmpdir(), 'zkinfer-audit-')));
  await mkdir(dir, { recursive: true });
  try {
    const record = (await (await get(query(), 'the model record')).json()) as {
      fileName?: unknown;
      externalFiles?: unknown;
      version?: unknown;
      status?: unknown;
    };
    const version = o.version ?? (typeof record.version === 'number' ? record.version : undefined);
    if (version === undefined) throw new ZkinferError('NOT_FOUND', `the model is ${String(record.status)} and has no ready key version to audit`, 'model-id');
    const descriptor = descriptorIn(record, `the service's model record`, version) as BundleModel;
    const recordFile = path.join(dir, 'model.json');
    await writeFile(recordFile, JSON.stringify(record, null, 2) + '\n');
    const v = { version: String(version) };

    const fileName = typeof record.fileName === 'string' && SAFE_NAME.test(record.fileName) ? record.fileName : 'model.onnx';
    const stream = async (p: string, file: string, what: string) => {
      const res = await get(p, what);
      const said = res.headers.get('x-zkinfer-sha256');
      const h = createHash('sha256');
      let bytes = 0;
      const hashing = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          h.update(chunk);
          bytes += chunk.length;
          cb(null, chunk);
        },
      });
      await pipeline(Readable.fromWeb(res.body as unknown as WebReadableStream), hashing, createWriteStream(file, { mode: 0o600 }));
      const got = h.digest('hex');
      if (said !== null && said !== got)
        throw new ZkinferError('ARTIFACT_CORRUPT', `the downloaded ${what} hashes to ${got}, not the ${said} the service announced`, what);
      log(`downloaded ${what}: ${bytes.toLocaleString('en-US')} bytes, sha256 ${got}`);
      return file;
    };
    if (descriptor.parameters && o.localModel === undefined)
      throw new ZkinferError(
        'SETTINGS',
        "this model is private: the service does not serve its file. Give the file you received from the model's owner, " +
          'with --private and --blinding <file>',
        'model',
      );
    if (!descriptor.parameters && o.localModel !== undefined)
      throw new ZkinferError('SETTINGS', 'this model is public: --service downloads its file, drop <model> and --private', 'model');
    if (o.localModel !== undefined) {
      log(`a private model: auditing the file given, ${o.localModel}`);
      const [vkey, zkey, r1cs, ptau] = await Promise.all([
        get(`/vkey${query(v)}`, 'the verification key').then(async (res) => {
          const f = path.join(dir, 'vkey.json');
          await writeFile(f, await res.text());
          return f;
        }),
        stream(`/artifacts/zkey${query(v)}`, path.join(dir, 'circuit.zkey'), 'the zkey'),
        stream(`/artifacts/r1cs${query(v)}`, path.join(dir, 'main.r1cs'), 'the r1cs'),
        stream(`/artifacts/ptau${query(v)}`, path.join(dir, 'setup.ptau'), 'the ptau'),
      ]);
      return { dir, version, model: o.localModel, vkey, zkey, ptau, r1cs, record: recordFile, descriptor };
    }
    const model = await stream(`/artifacts/model${query()}`, path.join(dir, fileName), 'the ONNX model');
    const external = Array.isArray(record.externalFiles) ? record.externalFiles : [];
    for (const name of external) {
      if (typeof name !== 'string' || !SAFE_NAME.test(name) || name === fileName)
        throw new ZkinferError(
          'INPUT_VALUE',
          `the service lists an external file name that is not usable: ${JSON.stringify(name).slice(0, 80)}`,
          'externalFiles',
        );
      await stream(`/artifacts/external/${encodeURIComponent(name)}${query()}`, path.join(dir, name), `external data file ${name}`);
    }
    const vkeyRes = await get(`/vkey${query(v)}`, 'the verification key');
    const vkey = path.join(dir, 'vkey.json');
    await writeFile(vkey, await vkeyRes.text());
    const zkey = await stream(`/artifacts/zkey${query(v)}`, path.join(dir, 'circuit.zkey'), 'the zkey');
    const r1cs = await stream(`/artifacts/r1cs${query(v)}`, path.join(dir, 'main.r1cs'), 'the r1cs');
    const ptau = await stream(`/artifacts/ptau${query(v)}`, path.join(dir, 'setup.ptau'), 'the ptau');
    return { dir, version, model, vkey, zkey, ptau, r1cs, record: recordFile, descriptor };
  } catch (e) {
    if (!o.dir) await rm(dir, { recursive: true, force: true });
    throw e;
  }
}
