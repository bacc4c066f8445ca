import { ZkinferError } from '../errors.ts';
import type { NodeProto, Tensor } from './onnx-file.ts';
import { checkLimit } from './limits.ts';
import { attrInt, attrInts, broadcastTo, type Lowering, nodeName } from './lower.ts';
import { ML_DOMAIN } from './ml-ops.ts';

/**
 * The column prefix of a scikit-learn ColumnTransformer as skl2onnx exports it: graph
 * inputs (one per column, or one table) split by ArrayFeatureExtractor, grouped by
 * Concat / FeatureVectorizer, each group scaled (Scaler, Add/Sub/Mul/Div by a constant),
 * then concatenated in the transformer's order, which need not be the inputs' order.
 * This is not a chain, but every value in it is, per scalar, `scale * x[src] + shift`
 * of one scalar of the flat input: followed that way, the prefix becomes one layer (or
 * none, when it is the identity) feeding the chain.
 */
interface Part {
  src: number;
  scale: number;
  shift: number;
}

const ELEMENTWISE = ['Add', 'Sub', 'Mul', 'Div'];

function isPrefixOp(node: NodeProto): boolean {
  const op = node.opType ?? '';
  if (node.domain === ML_DOMAIN) return ['Scaler', 'ArrayFeatureExtractor', 'FeatureVectorizer'].includes(op);
  if (node.domain && node.domain !== 'ai.onnx') return false;
  if (op === 'Cast') return [1, 10, 11].includes(attrInt(node, 'to', 1));
  return ['Concat', 'Identity', ...ELEMENTWISE].includes(op);
}

/**
 * Lowers the column prefix when the graph has one that is not a chain (several inputs
 * merged in another order or after per-group scaling, or one input read by several
 * nodes). Returns the names of the nodes it consumed (none: the ordinary lowering
 * handles the graph).
 */
export function lowerColumnPrefix(L: Lowering, nodes: NodeProto[], outputs: string[]): Set<string> {
  const none = new Set<string>();
  const parts = new Map<string, Part[]>();
  for (const inp of L.inputs) {
    // Rows of features only (each input [1, k] or [k]).
    if (inp.shape.length > 1 && inp.shape.slice(0, -1).some((d) => d !== 1)) return none;
    parts.set(inp.name, Array.from({ length: inp.size }, (_, i) => ({ src: inp.offset + i, scale: 1, shift: 0 })));
  }
  const prefix: NodeProto[] = [];
  const readers = new Map<string, number>();
  for (const node of nodes) {
    const ins = node.input ?? [];
    for (const i of ins) if (parts.has(i)) readers.set(i, (readers.get(i) ?? 0) + 1);
    if (!ins.some((i) => parts.has(i))) continue;
    if (!isPrefixOp(node)) continue;
    const out = evalPart(L, node, parts);
    if (!out) continue;
    parts.set(node.output![0], out);
    prefix.push(node);
  }
  // The frontier: prefix values read outside the prefix, or graph outputs.
  const inPrefix = new Set(prefix.map((n) => nodeName(n)));
  const frontier = new Set<string>();
  for (const node of nodes) {
    if (inPrefix.has(nodeName(node))) continue;
    for (const i of node.input ?? []) if (parts.has(i)) frontier.add(i);
  }
  for (const o of outputs) if (parts.has(o)) frontier.add(o);
  // The ordinary lowering's cases: a chain from one input, or from one Concat /
  // FeatureVectorizer of all inputs in order.
  const branches = [...readers.values()].some((k) => k > 1);
  const names = L.inputs.map((i) => i.name);
  const direct = prefix.filter((node) => (node.input ?? []).some((i) => names.includes(i)));
  const inOrder = direct.length === 1 && ['Concat', 'FeatureVectorizer'].includes(direct[0].opType ?? '') && (direct[0].input ?? []).join() === names.join();
  if (prefix.length === 0 || frontier.size !== 1 || (!branches && (names.length === 1 || inOrder))) return none;
  const [name] = frontier;
  if (names.includes(name)) return none;
  const p = parts.get(name)!;
  const where = prefix.map((node) => nodeName(node));
  const n = L.inputs.reduce((a, i) => a + i.size, 0);
  const identityOrder = p.length === n && p.every((q, i) => q.src === i);
  L.merged = true;
  if (identityOrder && p.every((q) => q.scale === 1 && q.shift === 0)) {
    L.values.set(name, { kind: 'act', shape: [1, n], version: L.version });
  } else if (identityOrder) {
    L.reserveLayer(prefix.at(-1)!, n, n, 2 * n);
    L.layers.push({ kind: 'diag', name: where.at(-1)!, size: n, scale: Float64Array.from(p, (q) => q.scale), shift: Float64Array.from(p, (q) => q.shift), nodes: where });
    L.version++;
    L.values.set(name, { kind: 'act', shape: [1, n], version: L.version });
  } else {
    L.reserveLayer(prefix.at(-1)!, n, p.length, n * p.length + p.length);
    const weights = new Float64Array(p.length * n);
    p.forEach((q, r) => {
      weights[r * n + q.src] = q.scale;
    });
    L.layers.push({ kind: 'dense', name: where.at(-1)!, inSize: n, outSize: p.length, weights, bias: Float64Array.from(p, (q) => q.shift), nodes: where });
    L.version++;
    L.values.set(name, { kind: 'act', shape: [1, p.length], version: L.version });
  }
  return new Set(where);
}

/** Every value of the prefix is a layer's width: checked before it is built (Concat can double it per node). */
function width(L: Lowering, node: NodeProto, n: number): void {
  checkLimit(L.limits, 'maxLayerWidth', n, `the width of the ${node.opType} output`, nodeName(node));
}

/** A prefix node's output, per scalar; undefined when the node is not one the prefix follows. */
function evalPart(L: Lowering, node: NodeProto, parts: Map<string, Part[]>): Part[] | undefined {
  const op = node.opType ?? '';
  const ins = node.input ?? [];
  const konst = (i: number): Tensor | undefined => {
    const v = L.values.get(ins[i] ?? '');
    return v?.kind === 'const' ? v.t : undefined;
  };
  const x = parts.get(ins[0] ?? '');
  if (op === 'Concat' || op === 'FeatureVectorizer') {
    if (ins.some((i) => !parts.has(i))) return undefined;
    if (op === 'Concat') {
      const axis = attrInt(node, 'axis', 0);
      if (axis !== 1 && axis !== -1) return undefined;
    } else {
      const dims = attrInts(node, 'inputdimensions');
      if (!dims || dims.some((d, k) => d !== parts.get(ins[k])!.length)) return undefined;
    }
    width(L, node, ins.reduce((a, i) => a + parts.get(i)!.length, 0));
    return ins.flatMap((i) => parts.get(i)!);
  }
  if (!x) return undefined;
  if (op === 'Identity' || op === 'Cast') return x;
  if (op === 'ArrayFeatureExtractor') {
    const idx = konst(1);
    if (!idx) return undefined;
    width(L, node, idx.data.length);
    return Array.from(idx.data, (raw) => {
      const k = raw < 0 ? raw + x.length : raw;
      if (!(Number.isInteger(k) && k >= 0 && k < x.length)) throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', `ArrayFeatureExtractor "${nodeName(node)}": column index ${raw} is outside ${x.length} features`, nodeName(node));
      return x[k];
    });
  }
  if (op === 'Scaler') {
    const a = (node.attribute ?? []).find((t) => t.name === 'scale')?.floats ?? [];
    const b = (node.attribute ?? []).find((t) => t.name === 'offset')?.floats ?? [];
    const at = (v: number[], i: number, d: number) => (v.length === 0 ? d : v.length === 1 ? v[0] : v[i]);
    if ((a.length > 1 && a.length !== x.length) || (b.length > 1 && b.length !== x.length)) return undefined;
    // (scale*x + shift - offset) * s
    return x.map((q, i) => ({ src: q.src, scale: q.scale * at(a, i, 1), shift: (q.shift - at(b, i, 0)) * at(a, i, 1) }));
  }
  if (ELEMENTWISE.includes(op)) {
    if (ins.length !== 2 || !parts.has(ins[0]) || parts.has(ins[1])) return undefined;
    const c = konst(1);
    if (!c) return undefined;
    const v = broadcastTo(c, [1, x.length], nodeName(node));
    return x.map((q, i) => {
      if (op === 'Add') return { ...q, shift: q.shift + v[i] };
      if (op === 'Sub') return { ...q, shift: q.shift - v[i] };
      if (op === 'Mul') return { src: q.src, scale: q.scale * v[i], shift: q.shift * v[i] };
      return { src: q.src, scale: q.scale / v[i], shift: q.shift / v[i] };
    });
  }
  return undefined;
}
