import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import pkg from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import { ZkinferError } from '../../core/errors.ts';
import { checkLimit, DEFAULT_MODEL_LIMITS, type ModelLimits } from '../limits.ts';
import { scanOnnx } from './scan.ts';

/** onnx-proto is CommonJS without detectable named exports: take the namespace from the default export. */
export const onnx = pkg.onnx;
export type ModelProto = OnnxTypes.ModelProto;
export type TensorProto = OnnxTypes.ITensorProto;
export type NodeProto = OnnxTypes.INodeProto;
export type AttributeProto = OnnxTypes.IAttributeProto;

/** A constant tensor, decoded to doubles (integer types are exact up to 2^53). */
export interface Tensor {
  data: Float64Array;
  shape: number[];
  /**
   * A STRING tensor's values (class names: skl2onnx's MLPClassifier `classes`). Its `data`
   * is then NaN: a string used as a number is refused as a non-finite weight.
   */
  strings?: string[];
}

export interface OnnxFile {
  model: ModelProto;
  bytes: Uint8Array;
  /** Contents of every external data file the model references, in first-use order. */
  externalBytes: Uint8Array[];
  /** Decoded initializers by name (external data already resolved). */
  initializers: Map<string, Tensor>;
}

const DT = onnx.TensorProto.DataType;

/** Bytes per element of the fixed-width data types `decodeRaw` reads. */
const BYTES_PER_ELEMENT: Record<number, number> = { 1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8 };

function longToNumber(v: unknown): number {
  return typeof v === 'number' ? v : Number(String(v));
}

function decodeRaw(raw: Uint8Array, dataType: number, name: string): Float64Array {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const read = (size: number, get: (o: number) => number) => Float64Array.from({ length: Math.floor(raw.byteLength / size) }, (_, i) => get(i * size));
  switch (dataType) {
    case DT.FLOAT:
      return read(4, (o) => view.getFloat32(o, true));
    case DT.DOUBLE:
      return read(8, (o) => view.getFloat64(o, true));
    case DT.INT64:
      return read(8, (o) => Number(view.getBigInt64(o, true)));
    case DT.UINT64:
      return read(8, (o) => Number(view.getBigUint64(o, true)));
    case DT.INT32:
      return read(4, (o) => view.getInt32(o, true));
    case DT.UINT32:
      return read(4, (o) => view.getUint32(o, true));
    case DT.INT16:
      return read(2, (o) => view.getInt16(o, true));
    case DT.UINT16:
      return read(2, (o) => view.getUint16(o, true));
    case DT.INT8:
      return read(1, (o) => view.getInt8(o));
    case DT.UINT8:
    case DT.BOOL:
      return read(1, (o) => view.getUint8(o));
    case DT.FLOAT16:
      return read(2, (o) => halfToFloat(view.getUint16(o, true)));
    default:
      throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `tensor "${name}" has unsupported data type ${dataType}`, name);
  }
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? Number.NaN : s * Number.POSITIVE_INFINITY;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** Decodes a TensorProto held in the model (not external). */
export function decodeTensor(t: TensorProto, external?: (t: TensorProto) => Uint8Array, limits: ModelLimits = DEFAULT_MODEL_LIMITS): Tensor {
  const name = t.name ?? '?';
  const shape = (t.dims ?? []).map(longToNumber);
  const count = shape.reduce((a, b) => a * b, 1);
  // scanOnnx has checked the file's own data; this also covers external data and tensors built in memory.
  checkLimit(limits, 'maxTensorElements', count, `the element count of tensor ${name}`, name);
  let data: Float64Array;
  if (t.dataType === DT.STRING) {
    const strings = (t.stringData ?? []).map((b) => new TextDecoder().decode(b));
    if (strings.length !== count)
      throw new ZkinferError('MODEL_UNREADABLE', `tensor "${name}" holds ${strings.length} strings but its shape [${shape}] needs ${count}`, name);
    return { data: new Float64Array(count).fill(Number.NaN), shape, strings };
  }
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    if (!external) throw new ZkinferError('MODEL_EXTERNAL_DATA', `tensor "${name}" has external data but no model directory is known`, name);
    const raw = external(t);
    checkLimit(
      limits,
      'maxTensorElements',
      Math.floor(raw.length / Math.max(1, BYTES_PER_ELEMENT[t.dataType ?? 0] ?? 1)),
      `the element count stored for tensor ${name}`,
      name,
    );
    data = decodeRaw(raw, t.dataType ?? 0, name);
  } else if (t.rawData && t.rawData.length > 0) data = decodeRaw(t.rawData, t.dataType ?? 0, name);
  else if (t.floatData && t.floatData.length > 0) data = Float64Array.from(t.floatData);
  else if (t.doubleData && t.doubleData.length > 0) data = Float64Array.from(t.doubleData);
  else if (t.int64Data && t.int64Data.length > 0) data = Float64Array.from(t.int64Data.map(longToNumber));
  else if (t.int32Data && t.int32Data.length > 0) {
    data = t.dataType === DT.FLOAT16 ? Float64Array.from(t.int32Data, halfToFloat) : Float64Array.from(t.int32Data);
  } else if (t.uint64Data && t.uint64Data.length > 0) data = Float64Array.from(t.uint64Data.map(longToNumber));
  else data = new Float64Array(0);
  if (data.length !== count) {
    throw new ZkinferError('MODEL_UNREADABLE', `tensor "${name}" holds ${data.length} values but its shape [${shape}] needs ${count}`, name);
  }
  return { data, shape };
}

/** Reads external tensor data relative to the model's directory, refusing paths that leave it. */
function externalReader(files: Map<string, Uint8Array>, limits: ModelLimits, storedBytes: number) {
  let total = storedBytes;
  return (t: TensorProto): Uint8Array => {
    const name = t.name ?? '?';
    const kv = new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
    const location = kv.get('location');
    if (!location) throw new ZkinferError('MODEL_EXTERNAL_DATA', `tensor "${name}" is external but names no location`, name);
    if (path.isAbsolute(location) || location.split(/[\\/]/).includes('..')) {
      throw new ZkinferError('MODEL_EXTERNAL_DATA', `tensor "${name}": external location "${location}" must stay inside the model's directory`, name);
    }
    const bytes = files.get(location);
    if (!bytes)
      throw new ZkinferError('MODEL_EXTERNAL_DATA', `tensor "${name}": external data file "${location}" is missing (it must sit beside the model)`, location);
    const offset = Number(kv.get('offset') ?? 0);
    const length = kv.has('length') ? Number(kv.get('length')) : bytes.length - offset;
    if (!(offset >= 0 && length >= 0 && offset + length <= bytes.length)) {
      throw new ZkinferError(
        'MODEL_EXTERNAL_DATA',
        `tensor "${name}": "${location}" is too short (needs bytes ${offset}..${offset + length}, has ${bytes.length})`,
        location,
      );
    }
    total += length;
    checkLimit(limits, 'maxInitializerBytes', total, `the tensor data of the model, up to and including external tensor ${name}, in bytes`, name);
    return bytes.subarray(offset, offset + length);
  };
}

/**
 * Reads and decodes an ONNX file and the external data files its tensors name. Sizes
 * are checked against `limits` before anything they imply is allocated: file sizes
 * before reading, the protobuf structure (see `scanOnnx`) before decoding.
 */
export async function readOnnx(file: string, limits: ModelLimits = DEFAULT_MODEL_LIMITS): Promise<OnnxFile> {
  let bytes: Uint8Array;
  try {
    checkLimit(limits, 'maxModelBytes', (await stat(file)).size, 'the size of the ONNX file in bytes', 'model');
    bytes = await readFile(file);
  } catch (e) {
    if (e instanceof ZkinferError) throw e;
    throw new ZkinferError('NOT_FOUND', `cannot read model ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'model');
  }
  const scan = scanOnnx(bytes, limits, path.basename(file));
  let model: ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new ZkinferError(
      'MODEL_UNREADABLE',
      `${path.basename(file)} is not a readable ONNX model (truncated or not protobuf): ${(e as Error).message}`,
      'model',
      { cause: e },
    );
  }
  const graph = model.graph;
  if (!graph || !graph.node || graph.node.length === 0 || !graph.output || graph.output.length === 0) {
    throw new ZkinferError('MODEL_UNREADABLE', `${path.basename(file)} decodes but holds no ONNX graph with nodes and outputs`, 'model');
  }
  // Load every external file named by an initializer or a Constant node's tensor.
  const tensors: TensorProto[] = [...(graph.initializer ?? [])];
  for (const n of graph.node) for (const a of n.attribute ?? []) if (a.t) tensors.push(a.t);
  const files = new Map<string, Uint8Array>();
  const externalBytes: Uint8Array[] = [];
  const dir = path.dirname(file);
  let totalBytes = bytes.length;
  for (const t of tensors) {
    if (t.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL) continue;
    const location = (t.externalData ?? []).find((e) => e.key === 'location')?.value;
    if (!location || files.has(location) || path.isAbsolute(location) || location.split(/[\\/]/).includes('..')) continue;
    const size = await stat(path.join(dir, location)).then(
      (st) => st.size,
      () => 0,
    );
    totalBytes += size;
    checkLimit(limits, 'maxModelBytes', totalBytes, `the size of the ONNX file and its external data, up to and including "${location}", in bytes`, location);
    try {
      const b = await readFile(path.join(dir, location));
      files.set(location, b);
      externalBytes.push(b);
    } catch {
      // Reported by the reader below with the tensor's name.
    }
  }
  const ext = externalReader(files, limits, scan.tensorBytes);
  const initializers = new Map<string, Tensor>();
  for (const t of graph.initializer ?? []) initializers.set(t.name ?? '', decodeTensor(t, ext, limits));
  return { model, bytes, externalBytes, initializers };
}

/** Decodes a Constant node's tensor attribute (its external data, if any, must be loaded). */
export function attributeTensor(t: TensorProto, limits: ModelLimits = DEFAULT_MODEL_LIMITS): Tensor {
  return decodeTensor(t, undefined, limits);
}
