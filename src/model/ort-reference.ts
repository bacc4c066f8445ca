import { readFile } from 'node:fs/promises';
import ort from 'onnxruntime-node';
import { applyHead } from './head.ts';
import type { ModelIR } from './ir.ts';
import { onnx } from './onnx/file.ts';

const sessions = new Map<string, Promise<ort.InferenceSession>>();

/** An onnxruntime tensor of the input's declared element type (float32 when unknown). */
function feed(type: string, values: (number | string)[], dims: number[]): ort.Tensor {
  if (type === 'string') return new ort.Tensor('string', values.map(String), dims);
  if (values.some((v) => typeof v === 'string')) return feed(type, values.map(Number), dims);
  return feedNumbers(type, values as number[], dims);
}

function feedNumbers(type: string, values: number[], dims: number[]): ort.Tensor {
  switch (type) {
    case 'float64':
      return new ort.Tensor('float64', Float64Array.from(values), dims);
    case 'int64':
      return new ort.Tensor(
        'int64',
        BigInt64Array.from(values, (v) => BigInt(Math.round(v))),
        dims,
      );
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
 * tile the batch produce identical rows), or for an ai.onnx.ml classifier what
 * `ir.onnxOutput` says: the columns the IR reproduces, in the head's space (a ZipMap
 * output is read as the tensor it maps). Sessions are cached per path.
 */
export async function runOnnxRuntime(file: string, x: ArrayLike<number>, ir: ModelIR): Promise<Float64Array> {
  const zipMap = ir.onnxOutput?.zipMap;
  const key = zipMap ? `${file}\0${zipMap}` : file;
  let s = sessions.get(key);
  if (!s) {
    s = zipMap ? withoutZipMap(file, zipMap, ir.onnxOutput!.name) : ort.InferenceSession.create(file);
    sessions.set(key, s);
    s.catch(() => sessions.delete(key));
  }
  const session = await s;
  const feeds: Record<string, ort.Tensor> = {};
  for (const inp of ir.inputs) {
    const meta = session.inputMetadata.find((m) => m.name === inp.name);
    const type = meta && meta.isTensor ? meta.type : 'float32';
    const slice = columnsOf(inp, x);
    feeds[inp.name] = feed(type, slice, inp.batched === false ? inp.shape : [1, ...inp.shape]);
  }
  const o = ir.onnxOutput;
  const out = await session.run(feeds, [o?.name ?? ir.outputName]);
  const t = out[o?.name ?? ir.outputName] ?? Object.values(out)[0];
  const data = t.data as ArrayLike<number | bigint>;
  if (o)
    return Float64Array.from(
      applyHead(
        o.apply,
        o.pick.map((i) => Number(data[i])),
      ),
    );
  return Float64Array.from({ length: Math.min(ir.outputSize, data.length) }, (_, i) => Number(data[i]));
}

/**
 * An input's columns as the ONNX graph takes them: a categorical column's one-hot features
 * decoded back to its category (the first set feature), a numeric column's value as is.
 */
function columnsOf(inp: ModelIR['inputs'][number], x: ArrayLike<number>): (number | string)[] {
  if (!inp.categories) return Array.from({ length: inp.size }, (_, i) => x[inp.offset + i]);
  const out: (number | string)[] = [];
  let k = inp.offset;
  for (const cats of inp.categories) {
    if (!cats) {
      out.push(x[k++]);
      continue;
    }
    let idx = 0;
    for (let c = 0; c < cats.length; c++) if (x[k + c] > x[k + idx]) idx = c;
    out.push(cats[idx]);
    k += cats.length;
  }
  return out;
}

/**
 * The model with its ZipMap output replaced by the tensor the ZipMap reads:
 * onnxruntime-node returns no sequence of maps, and ZipMap only relabels the scores.
 */
async function withoutZipMap(file: string, zipMap: string, tensor: string): Promise<ort.InferenceSession> {
  const model = onnx.ModelProto.decode(await readFile(file));
  const g = model.graph!;
  g.node = (g.node ?? []).filter((n) => !(n.opType === 'ZipMap' && n.output?.[0] === zipMap));
  g.output = (g.output ?? []).map((v) =>
    v.name === zipMap ? onnx.ValueInfoProto.create({ name: tensor, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT } } }) : v,
  );
  return ort.InferenceSession.create(onnx.ModelProto.encode(model).finish());
}
