import { onnx } from './onnx/file.ts';

/**
 * A small ONNX writer: the repo builds its own example and test models with it
 * (float32 initializers as raw data, opset 13 by default).
 */
export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  /** A number is an INT attribute; `{ float }` a FLOAT one; `{ floats }`, `{ string }`, `{ strings }` as named. */
  attrs?: Record<
    string,
    | number
    | number[]
    | { float: number }
    | { floats: number[] }
    | { string: string }
    | { strings: string[] }
    | { tensor: { dims: number[]; data: number[]; int64?: boolean } }
  >;
  domain?: string;
}

export interface GraphSpec {
  /** Graph inputs: float unless `type` says otherwise (string columns, int64 categories). */
  inputs: { name: string; dims: (number | string)[]; type?: 'float' | 'string' | 'int64' }[];
  output: { name: string; dims: (number | string)[] };
  /** More graph outputs after `output` (a label beside the probabilities). */
  extraOutputs?: { name: string; dims: (number | string)[]; type?: 'float' | 'string' | 'int64' }[];
  initializers?: { name: string; dims: number[]; data: ArrayLike<number>; type?: 'float' | 'int64' | 'int8' | 'uint8' }[];
  nodes: NodeSpec[];
  opset?: number;
  producer?: string;
}

function valueInfo(name: string, dims: (number | string)[], type: 'float' | 'string' | 'int64' = 'float') {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType: type === 'string' ? onnx.TensorProto.DataType.STRING : type === 'int64' ? onnx.TensorProto.DataType.INT64 : onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  });
}

function tensor(name: string, dims: number[], data: ArrayLike<number>, type: 'float' | 'int64' | 'int8' | 'uint8' = 'float') {
  const DT = onnx.TensorProto.DataType;
  let raw: Uint8Array;
  let dataType: number;
  if (type === 'int64') {
    raw = new Uint8Array(new BigInt64Array(Array.from(data, (v) => BigInt(Math.trunc(v)))).buffer);
    dataType = DT.INT64;
  } else if (type === 'int8') {
    raw = new Uint8Array(Int8Array.from(data).buffer);
    dataType = DT.INT8;
  } else if (type === 'uint8') {
    raw = Uint8Array.from(data);
    dataType = DT.UINT8;
  } else {
    raw = new Uint8Array(Float32Array.from(data).buffer);
    dataType = DT.FLOAT;
  }
  return onnx.TensorProto.create({ name, dims, dataType, rawData: raw });
}

function attribute(name: string, v: NonNullable<NodeSpec['attrs']>[string]) {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'number') return { name, type: T.INT, i: v };
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  if ('float' in v) return { name, type: T.FLOAT, f: v.float };
  if ('floats' in v) return { name, type: T.FLOATS, floats: v.floats };
  if ('string' in v) return { name, type: T.STRING, s: new TextEncoder().encode(v.string) };
  if ('strings' in v) return { name, type: T.STRINGS, strings: v.strings.map((x) => new TextEncoder().encode(x)) };
  return { name, type: T.TENSOR, t: tensor('', v.tensor.dims, v.tensor.data, v.tensor.int64 ? 'int64' : 'float') };
}

/** Encodes a graph spec as ONNX bytes. */
export function buildOnnx(g: GraphSpec): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: g.producer ?? 'zkinfer',
    opsetImport: [{ domain: '', version: g.opset ?? 13 }, ...(g.nodes.some((n) => n.domain === 'ai.onnx.ml') ? [{ domain: 'ai.onnx.ml', version: 3 }] : [])],
    graph: {
      name: 'graph',
      input: g.inputs.map((i) => valueInfo(i.name, i.dims, i.type)),
      output: [valueInfo(g.output.name, g.output.dims), ...(g.extraOutputs ?? []).map((o) => valueInfo(o.name, o.dims, o.type))],
      initializer: (g.initializers ?? []).map((t) => tensor(t.name, t.dims, t.data, t.type)),
      node: g.nodes.map((n, k) =>
        onnx.NodeProto.create({
          name: n.name ?? `${n.op}_${k}`,
          opType: n.op,
          input: n.inputs,
          output: n.outputs,
          domain: n.domain ?? '',
          attribute: Object.entries(n.attrs ?? {}).map(([name, v]) => attribute(name, v)),
        }),
      ),
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
