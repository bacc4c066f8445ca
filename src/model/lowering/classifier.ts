import type { Head } from '../ir.ts';
import type { NodeProto } from '../onnx/file.ts';
import type { Lowering } from './context.ts';
import { nodeName } from './values.ts';

/** A classifier's outputs: the label (the decision, proven from the scores) and the scores, whose head is final. */
export function classifierEnd(
  L: Lowering,
  node: NodeProto,
  scoresOut: number,
  c: { head: Exclude<Head, 'none'>; labels: string[]; pick: number[]; apply: Head },
): void {
  L.classifier = { node: nodeName(node), ...c, scores: node.output?.[1] ?? '' };
  if (scoresOut === 1 && node.output?.[0]) L.values.set(node.output[0], { kind: 'label' });
  // Nothing but a ZipMap, Normalizer(L1) or shape op may follow the scores.
  if (scoresOut === 1) L.pendingHead = { op: c.head, node: nodeName(node), size: c.pick.length === 1 && c.head === 'sigmoid' ? 1 : c.pick.length, final: true };
}
