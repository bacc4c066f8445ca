import { DEFAULT_MODEL_LIMITS, type ModelLimits } from '../limits.ts';
import { attributeTensor, type AttributeProto, type NodeProto, type Tensor } from './file.ts';

/**
 * Readers of an ONNX node's attributes, the one place that knows how protobufjs decodes
 * them (int64 as Long or number, strings as bytes). An absent attribute, or an empty list,
 * reads as the default (or undefined).
 */

/** The attribute `name` of the node, if present. */
export function attribute(node: NodeProto, name: string): AttributeProto | undefined {
  return (node.attribute ?? []).find((a) => a.name === name);
}

const text = (b: Uint8Array | string | null | undefined) => (typeof b === 'string' ? b : b ? new TextDecoder().decode(b) : '');

export function attrInt(node: NodeProto, name: string, dflt: number): number {
  const a = attribute(node, name);
  return a?.i !== undefined && a.i !== null ? Number(String(a.i)) : dflt;
}

export function attrFloat(node: NodeProto, name: string, dflt: number): number {
  const a = attribute(node, name);
  return a && (a.type === 1 || a.f) ? (a.f ?? dflt) : dflt;
}

export function attrString(node: NodeProto, name: string, dflt: string): string {
  const a = attribute(node, name);
  return a?.s && a.s.length > 0 ? text(a.s) : dflt;
}

export function attrInts(node: NodeProto, name: string): number[] | undefined {
  const a = attribute(node, name);
  return a?.ints && a.ints.length > 0 ? a.ints.map((v) => Number(String(v))) : undefined;
}

export function attrFloats(node: NodeProto, name: string): Float64Array | undefined {
  const a = attribute(node, name);
  return a?.floats && a.floats.length > 0 ? Float64Array.from(a.floats) : undefined;
}

export function attrStrings(node: NodeProto, name: string): string[] | undefined {
  const a = attribute(node, name);
  return a?.strings && a.strings.length > 0 ? a.strings.map(text) : undefined;
}

export function attrTensor(node: NodeProto, name: string, limits: ModelLimits = DEFAULT_MODEL_LIMITS): Tensor | undefined {
  const a = attribute(node, name);
  return a?.t ? attributeTensor(a.t, limits) : undefined;
}

/** A float list, or its `_as_tensor` form (double precision, ai.onnx.ml opset 3). */
export function attrFloatsOrTensor(node: NodeProto, name: string, limits: ModelLimits = DEFAULT_MODEL_LIMITS): Float64Array | undefined {
  const t = attribute(node, `${name}_as_tensor`);
  if (t?.t) return Float64Array.from(attributeTensor(t.t, limits).data);
  return attrFloats(node, name);
}
