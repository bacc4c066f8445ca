import { ZkinferError } from '../../core/errors.ts';
import type { NodeProto, Tensor } from '../onnx/file.ts';
import type { DiagLayer } from './fold.ts';

/**
 * The values a lowering binds ONNX names to, and the small helpers every op shares.
 * Every value is either a constant (folded at import) or an activation computed from the
 * graph inputs (a slot of the vector the chain of layers carries).
 */

/** The ai.onnx.ml domain (what scikit-learn pipelines exported by skl2onnx are made of). */
export const ML_DOMAIN = 'ai.onnx.ml';

export interface Activation {
  kind: 'act';
  /** Full shape, batch dimension (1) first. */
  shape: number[];
  /** The layer count (`Lowering.version`) when this value was made. */
  version: number;
  /** The slot of the current vector that holds it (values a shape op renames share one). */
  slot: number;
  /** Set for each graph input of a model with several (their Concat in order is the flat input vector as it is). */
  inputIndex?: number;
}
export interface Constant {
  kind: 'const';
  t: Tensor;
}
/** A classifier's predicted label (ai.onnx.ml): the decision the circuit proves from the scores. */
export interface Label {
  kind: 'label';
}
/**
 * `1 - p` of a binary classifier's probability p (skl2onnx's MLPClassifier writes its two
 * columns as Concat(1 - p, p)): only that Concat may read it.
 */
export interface Complement {
  kind: 'complement';
  of: string;
}
export type Value = Activation | Constant | Label | Complement;

/**
 * Where a folded op gets the storage for its result: `alloc` checks the element count
 * against the model limits before allocating, so an op that would build a huge
 * constant (ConstantOfShape([1e8]), an Expand or Tile to a huge shape) is refused
 * from its shape alone. Ops that only relabel their input's data allocate nothing.
 */
export interface FoldContext {
  alloc(shape: number[], node: NodeProto): Float64Array;
}

export const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

export const nodeName = (n: NodeProto) => n.name || `${n.opType}(${n.output?.[0]})`;

/** A malformed or unsupported node: MODEL_UNSUPPORTED_GRAPH naming it. */
export function fail(node: NodeProto, why: string): never {
  throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `${node.opType} "${nodeName(node)}": ${why}`, nodeName(node));
}

export function diag(name: string, scale: Float64Array, shift: Float64Array, nodes: string[]): DiagLayer {
  return { kind: 'diag', name, size: scale.length, scale, shift, nodes };
}
