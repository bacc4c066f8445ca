// Runs in the worker thread of `loadModelIsolated`: loads one model, posts the result
// or the typed error, and exits.
import { parentPort, workerData } from 'node:worker_threads';
import { isZkinferError } from '../core/errors.ts';
import { checkCircuitSize } from '../quant/circuit-size.ts';
import type { IsolatedLoadRequest, IsolatedLoadResult } from './load-isolated.ts';
import { modelLimits } from '../model/limits.ts';
import { loadModel } from '../model/load-model.ts';

async function run(req: IsolatedLoadRequest): Promise<IsolatedLoadResult> {
  try {
    const loaded = await loadModel(req.file, { limits: req.limits });
    if (req.settings) checkCircuitSize(loaded.ir, req.settings, modelLimits(req.limits));
    return { ok: true, loaded };
  } catch (e) {
    if (isZkinferError(e)) return { ok: false, code: e.code, message: e.message, field: e.field };
    return { ok: false, internal: e instanceof Error ? e.message : String(e) };
  }
}

parentPort!.postMessage(await run(workerData as IsolatedLoadRequest));
