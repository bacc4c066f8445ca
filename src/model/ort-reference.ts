import ort from 'onnxruntime-node';
import type { ModelIR } from './ir.ts';

const sessions = new Map<string, Promise<ort.InferenceSession>>();

/** An onnxruntime tensor of the input's declared element type (float32 when unknown). */
function feed(type: string, values: number[], dims: number[]): ort.Tensor {
  switch (type) {
    case 'float64':
      return new ort.Tensor('float64', Float64Array.from(values), dims);
    case 'int64':
      return new ort.Tensor('int64', BigInt64Array.from(values, (v) => BigInt(Math.round(v))), dims);
    case 'int32':
      return new ort.Tensor('int32', Int32Array.from(values, Math.round), dims);
    default:
      return new ort.Tensor('float32', Float32Array.from(values), dims);
  }
}

/**
 * The float reference: onnxruntime-node on the model file, batch 1, to check the
 * lowering and measure the quantization error. The flat vector is split into the
 * named graph inputs (`[1, ...shape]`, or `shape` for inputs without a batch
 * dimension). Returns the first `outputSize` values of the graph output (models that
 * tile the batch produce identical rows). Sessions are cached per path.
 */
export async function runOnnxRuntime(file: string, x: ArrayLike<number>, ir: ModelIR): Promise<Float64Array> {
  let s = sessions.get(file);
  if (!s) {
    s = ort.InferenceSession.create(file);
    sessions.set(file, s);
    s.catch(() => sessions.delete(file));
  }
  const session = await s;
  const feeds: Record<string, ort.Tensor> = {};
  for (const inp of ir.inputs) {
    const meta = session.inputMetadata.find((m) => m.name === inp.name);
    const type = meta && meta.isTensor ? meta.type : 'float32';
    const slice = Array.from({ length: inp.size }, (_, i) => x[inp.offset + i]);
    feeds[inp.name] = feed(type, slice, inp.batched === false ? inp.shape : [1, ...inp.shape]);
  }
  const out = await session.run(feeds);
  const t = out[ir.outputName] ?? Object.values(out)[0];
  const data = t.data as ArrayLike<number | bigint>;
  return Float64Array.from({ length: Math.min(ir.outputSize, data.length) }, (_, i) => Number(data[i]));
}
