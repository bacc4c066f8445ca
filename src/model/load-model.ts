import type { ModelIR } from './ir.ts';
import { type ModelLimits, modelLimits } from './limits.ts';
import { lowerModel } from './lower.ts';
import { readOnnx } from './onnx/file.ts';

export interface LoadedOnnxModel {
  ir: ModelIR;
  /** The .onnx file's bytes (part of the model id). */
  bytes: Uint8Array;
  /** External weight files' bytes, in first-use order (part of the model id). */
  externalBytes: Uint8Array[];
}

export interface LoadOptions {
  /** Size limits (defaults: DEFAULT_MODEL_LIMITS); a model over one is MODEL_TOO_LARGE. */
  limits?: Partial<ModelLimits>;
}

/**
 * Reads an ONNX file (and its external data) and lowers it to the layer IR, refusing
 * a model over `opts.limits` before allocating what it declares. Runs on the caller's
 * thread: a service should use `loadModelIsolated` for uploads.
 */
export async function loadModel(file: string, opts: LoadOptions = {}): Promise<LoadedOnnxModel> {
  const limits = modelLimits(opts.limits);
  const f = await readOnnx(file, limits);
  return { ir: lowerModel(f.model, f.initializers, limits), bytes: f.bytes, externalBytes: f.externalBytes };
}
