import { Worker } from 'node:worker_threads';
import { type ErrorCode, ZkinferError } from '../core/errors.ts';
import type { QuantSettings } from '../fixed/settings.ts';
import type { ModelLimits } from '../model/limits.ts';
import type { LoadedOnnxModel } from '../model/load-model.ts';
import { sourceFile } from '../core/package-root.ts';

export interface IsolatedLoadOptions {
  /** Size limits (DEFAULT_MODEL_LIMITS for the ones not given). */
  limits?: Partial<ModelLimits>;
  /** With the upload's settings, the circuit's constraint count is checked too (maxConstraints). */
  settings?: QuantSettings;
  /** Wall-clock bound on the import (default 20 s); past it the worker is stopped. */
  timeoutMs?: number;
  /** The worker's V8 heap bound, maxOldGenerationSizeMb (default 512). */
  maxHeapMb?: number;
}

/** @internal The message to the worker and its answer. */
export interface IsolatedLoadRequest {
  file: string;
  limits?: Partial<ModelLimits>;
  settings?: QuantSettings;
}
export type IsolatedLoadResult =
  { ok: true; loaded: LoadedOnnxModel } | { ok: false; code: ErrorCode; message: string; field?: string } | { ok: false; internal: string };

export const DEFAULT_IMPORT_TIMEOUT_MS = 20_000;
export const DEFAULT_IMPORT_HEAP_MB = 512;

/**
 * `loadModel` in a worker thread, for untrusted uploads: parsing and lowering never
 * run on the caller's event loop, the worker's heap is bounded (`resourceLimits`) and
 * so is its time. Resolves to the loaded model or rejects with the ZkinferError the
 * import raised; a worker that runs out of heap or time is MODEL_TOO_LARGE.
 */
export function loadModelIsolated(file: string, opts: IsolatedLoadOptions = {}): Promise<LoadedOnnxModel> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_IMPORT_TIMEOUT_MS;
  const heapMb = opts.maxHeapMb ?? DEFAULT_IMPORT_HEAP_MB;
  const request: IsolatedLoadRequest = { file, limits: opts.limits, settings: opts.settings };
  return new Promise((resolve, reject) => {
    const worker = new Worker(sourceFile('pipeline', 'load-worker.mjs'), {
      workerData: request,
      resourceLimits: { maxOldGenerationSizeMb: heapMb, maxYoungGenerationSizeMb: Math.min(64, Math.max(8, Math.floor(heapMb / 8))), stackSizeMb: 4 },
      stdout: false,
      stderr: false,
    });
    let settled = false;
    const finish = (f: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      f();
      void worker.terminate();
    };
    const timer = setTimeout(() => {
      finish(() => reject(new ZkinferError('MODEL_TOO_LARGE', `importing the model took longer than ${timeoutMs} ms and was stopped`, 'importTimeoutMs')));
    }, timeoutMs);
    worker.once('message', (r: IsolatedLoadResult) => {
      finish(() => {
        if (r.ok) resolve(r.loaded);
        else if ('code' in r) reject(new ZkinferError(r.code, r.message, r.field));
        else reject(new Error(`model import failed: ${r.internal}`));
      });
    });
    worker.once('error', (e: Error & { code?: string }) => {
      finish(() =>
        reject(
          e.code === 'ERR_WORKER_OUT_OF_MEMORY'
            ? new ZkinferError('MODEL_TOO_LARGE', `importing the model needed more than the ${heapMb} MB heap it may use`, 'importHeapMb')
            : e,
        ),
      );
    });
    worker.once('exit', (code) => finish(() => reject(new Error(`model import worker exited (code ${code}) without an answer`))));
  });
}
