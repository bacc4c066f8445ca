import type { ModelIR } from './ir.ts';
import { lowerModel } from './lower.ts';
import { readOnnx } from './onnx-file.ts';

export interface LoadedOnnxModel {
  ir: ModelIR;
  /** The .onnx file's bytes (part of the model id). */
  bytes: Uint8Array;
  /** External weight files' bytes, in first-use order (part of the model id). */
  externalBytes: Uint8Array[];
}

/** Reads an ONNX file (and its external data) and lowers it to the layer IR. */
export async function loadModel(file: string): Promise<LoadedOnnxModel> {
  const f = await readOnnx(file);
  return { ir: lowerModel(f.model, f.initializers), bytes: f.bytes, externalBytes: f.externalBytes };
}
