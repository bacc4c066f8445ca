import ort from 'onnxruntime-node';
import type { ModelIR } from './ir.ts';

const sessions = new Map<string, Promise<ort.InferenceSession>>();

/**
 * The float reference: onnxruntime-node on the model file, batch 1. Returns the first
 * row of the graph output (models that tile the batch produce identical rows).
 */
export async function runOnnxRuntime(file: string, x: ArrayLike<number>, ir: ModelIR): Promise<Float64Array> {
  let s = sessions.get(file);
  if (!s) {
    s = ort.InferenceSession.create(file);
    sessions.set(file, s);
  }
  const session = await s;
  const feeds: Record<string, ort.Tensor> = {};
  for (const inp of ir.inputs) {
    const meta = session.inputMetadata.find((m) => m.name === inp.name);
    const type = meta && meta.isTensor ? meta.type : 'float32';
    const slice = Array.from({ length: inp.size }, (_, i) => x[inp.offset + i]);
    const data = type === 'float64' ? Float64Array.from(slice) : Float32Array.from(slice);
    feeds[inp.name] = new ort.Tensor(type === 'float64' ? 'float64' : 'float32', data, [1, ...inp.shape]);
  }
  const out = await session.run(feeds);
  const t = out[ir.outputName] ?? Object.values(out)[0];
  return Float64Array.from(t.data as Float32Array).subarray(0, ir.outputSize);
}
