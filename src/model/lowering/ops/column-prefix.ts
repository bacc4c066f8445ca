import { ZkinferError } from '../../../core/errors.ts';
import { checkLimit } from '../../limits.ts';
import { attrFloats, attribute, attrInt, attrInts, attrStrings } from '../../onnx/attributes.ts';
import type { NodeProto, Tensor } from '../../onnx/file.ts';
import { broadcastTo } from '../broadcast.ts';
import type { Lowering } from '../context.ts';
import { fail, ML_DOMAIN, nodeName, size } from '../values.ts';

/**
 * The column prefix of a scikit-learn pipeline as skl2onnx exports it: graph inputs (one
 * per column, or one table) split by ArrayFeatureExtractor / Gather, grouped by Concat /
 * FeatureVectorizer, categorical columns encoded (OneHotEncoder, LabelEncoder), missing
 * values imputed (Imputer), each group scaled (Scaler, Add/Sub/Mul/Div by a constant),
 * then concatenated in the transformer's order, which need not be the inputs' order.
 * This is not a chain, but every value in it is, per scalar, an affine function of the
 * flat input vector, in which a categorical column is its one-hot vector: followed that
 * way, the prefix becomes one layer (or none, when it is the identity) feeding the chain.
 *
 * - A categorical column (a graph input column an encoder reads: strings, or integer
 *   categories) has no number the circuit could take. The flat input holds its one-hot
 *   vector, in the order of the encoder's categories (`IrInput.categories`): the prover
 *   maps the given category to it before proving, and the circuit checks that it is one
 *   hot. OneHotEncoder then outputs those features as they are; LabelEncoder outputs
 *   sum_i value_i * onehot_i, a linear map.
 * - An Imputer (missing value NaN) over a column becomes the rule "a missing value of this
 *   column is the constant c" (`IrInput.missing`, raw units), applied to the input before
 *   quantization. No NaN can reach the circuit (an integer), and the model computes the
 *   same on the imputed value as on the missing one, so the proof is of what the ONNX model
 *   computes; the descriptor shows the rule.
 */

/** One term of a numeric scalar: coef times feature `cat` of column `col` (-1: a numeric column's value). */
interface Term {
  col: number;
  cat: number;
  coef: number;
}
/** A numeric scalar: sum of terms plus shift. `integral`: an integer by construction (a one-hot entry, an int64 label). */
interface Num {
  kind: 'num';
  terms: Term[];
  shift: number;
  integral: boolean;
}
/** A graph input column as given, before anything says whether it is a number or a category. */
interface Col {
  kind: 'col';
  col: number;
  /** Went through a Cast to an integer or string type: a category's value is unchanged, a number's would be truncated. */
  cast: boolean;
}
type Part = Num | Col;

const ELEMENTWISE = ['Add', 'Sub', 'Mul', 'Div'];
const SHAPE_OPS = ['Identity', 'Reshape', 'Squeeze', 'Unsqueeze', 'Flatten'];
const ENCODERS = ['OneHotEncoder', 'LabelEncoder'];
/** ai.onnx.ml ops that only the column prefix lowers. */
export const PREFIX_ONLY_ML_OPS = [...ENCODERS, 'Imputer'];

/** Whether the prefix follows this node. Shape ops, Gather and integer casts only in a graph with encoders, imputers or string inputs (`special`). */
function isPrefixOp(node: NodeProto, special: boolean): boolean {
  const op = node.opType ?? '';
  if (node.domain === ML_DOMAIN) return ['Scaler', 'ArrayFeatureExtractor', 'FeatureVectorizer', ...PREFIX_ONLY_ML_OPS].includes(op);
  if (node.domain && node.domain !== 'ai.onnx') return false;
  if (op === 'Cast' && !special) return [1, 10, 11].includes(attrInt(node, 'to', 1));
  return ['Concat', 'Identity', 'Cast', ...ELEMENTWISE, ...(special ? ['Gather', ...SHAPE_OPS] : [])].includes(op);
}

/** Column bookkeeping: which input each column is, and what the prefix learned about it. */
interface ColumnInfo {
  input: number;
  name: string;
  categories: string[] | null;
  /** The encoder that set the categories, for messages. */
  encoder?: string;
  numeric: boolean;
  missing: number | null;
}

class Prefix {
  readonly parts = new Map<string, Part[]>();
  readonly shapes = new Map<string, number[]>();
  readonly cols: ColumnInfo[] = [];

  constructor(readonly L: Lowering) {}

  /** A column as a number: the first numeric use fixes it; a categorical column cannot be one. */
  num(node: NodeProto, p: Part): Num {
    if (p.kind === 'num') return p;
    const c = this.cols[p.col];
    if (c.categories) fail(node, `column ${c.name} is categorical (read by ${c.encoder}) and is also used as a number`);
    if (this.L.stringInputs.has(this.L.inputs[c.input].name))
      fail(node, `column ${c.name} holds strings and is used as a number (only OneHotEncoder or LabelEncoder may read it)`);
    if (p.cast) fail(node, `column ${c.name} is cast to an integer type and used as a number: the truncation is not linear`);
    c.numeric = true;
    return { kind: 'num', terms: [{ col: p.col, cat: -1, coef: 1 }], shift: 0, integral: false };
  }

  /** A column as a category of an encoder: fixes its ordered categories. */
  category(node: NodeProto, p: Part, cats: string[]): number {
    if (p.kind !== 'col')
      fail(node, 'encodes a computed value: only a graph input column (as given, or picked, concatenated, reshaped or cast) may be encoded');
    const c = this.cols[p.col];
    if (c.numeric) fail(node, `column ${c.name} is used as a number elsewhere and encoded here`);
    if (new Set(cats).size !== cats.length) fail(node, 'has duplicate categories');
    if (c.categories && c.categories.join('\u0000') !== cats.join('\u0000')) fail(node, `column ${c.name} is encoded by ${c.encoder} with other categories`);
    c.categories = cats;
    c.encoder ??= `${node.opType} "${nodeName(node)}"`;
    return p.col;
  }

  width(node: NodeProto, n: number): void {
    checkLimit(this.L.limits, 'maxLayerWidth', n, `the width of the ${node.opType} output`, nodeName(node));
  }
}

/**
 * Lowers the column prefix when the graph has one that is not a chain (several inputs
 * merged in another order or after per-group scaling, one input read by several nodes,
 * categorical columns, imputed columns). Returns the names of the nodes it consumed
 * (none: the ordinary lowering handles the graph). Sets the inputs' categories and
 * missing-value rules, and with categories their flat sizes and offsets.
 */
export function lowerColumnPrefix(L: Lowering, nodes: NodeProto[], outputs: string[]): Set<string> {
  const none = new Set<string>();
  const P = new Prefix(L);
  for (const [k, inp] of L.inputs.entries()) {
    // Rows of features only (each input [1, k] or [k]).
    if (inp.shape.length > 1 && inp.shape.slice(0, -1).some((d) => d !== 1)) {
      if (L.stringInputs.has(inp.name))
        throw new ZkinferError(
          'MODEL_UNSUPPORTED_GRAPH',
          `graph input "${inp.name}" holds strings in shape [${inp.shape}]: only one row of columns is supported`,
          inp.name,
        );
      return none;
    }
    const parts: Part[] = [];
    for (let j = 0; j < inp.size; j++) {
      parts.push({ kind: 'col', col: P.cols.length, cast: false });
      P.cols.push({ input: k, name: inp.size === 1 ? `"${inp.name}"` : `"${inp.name}"[${j}]`, categories: null, numeric: false, missing: null });
    }
    P.parts.set(inp.name, parts);
    P.shapes.set(inp.name, inp.batched === false ? inp.shape : [1, ...inp.shape]);
  }
  const special = nodes.some((n) => n.domain === ML_DOMAIN && PREFIX_ONLY_ML_OPS.includes(n.opType ?? '')) || L.stringInputs.size > 0;
  const prefix: NodeProto[] = [];
  const readers = new Map<string, number>();
  for (const node of nodes) {
    const ins = node.input ?? [];
    for (const i of ins) if (P.parts.has(i)) readers.set(i, (readers.get(i) ?? 0) + 1);
    if (!ins.some((i) => P.parts.has(i))) continue;
    if (!isPrefixOp(node, special)) continue;
    const out = evalPart(P, node);
    if (!out) continue;
    P.parts.set(node.output![0], out.parts);
    P.shapes.set(node.output![0], out.shape);
    prefix.push(node);
  }
  // The frontier: prefix values read outside the prefix, or graph outputs.
  const inPrefix = new Set(prefix.map((n) => nodeName(n)));
  const frontier = new Set<string>();
  for (const node of nodes) {
    if (inPrefix.has(nodeName(node))) continue;
    for (const i of node.input ?? []) if (P.parts.has(i)) frontier.add(i);
  }
  for (const o of outputs) if (P.parts.has(o)) frontier.add(o);
  // The ordinary lowering's cases: a chain from one input, or from one Concat /
  // FeatureVectorizer of all inputs in order, with no encoder or imputer.
  const branches = [...readers.values()].some((k) => k > 1);
  const names = L.inputs.map((i) => i.name);
  const direct = prefix.filter((node) => (node.input ?? []).some((i) => names.includes(i)));
  const inOrder = direct.length === 1 && ['Concat', 'FeatureVectorizer'].includes(direct[0].opType ?? '') && (direct[0].input ?? []).join() === names.join();
  if (special && frontier.size !== 1) {
    const where = prefix.find((n) => n.domain === ML_DOMAIN && PREFIX_ONLY_ML_OPS.includes(n.opType ?? '')) ?? prefix[0];
    const why =
      `the graph's input columns (with their encoders and imputers) must merge into one vector before the model proper; ` +
      `here ${frontier.size} values leave the column ` +
      `prefix${frontier.size ? ` (${[...frontier].slice(0, 4).join(', ')})` : ''}`;
    throw new ZkinferError('MODEL_UNSUPPORTED_GRAPH', where ? `${where.opType} "${nodeName(where)}": ${why}` : why, where ? nodeName(where) : 'model');
  }
  if (!special && (prefix.length === 0 || frontier.size !== 1 || (!branches && (names.length === 1 || inOrder)))) return none;
  const [name] = frontier;
  if (names.includes(name) && !special) return none;
  const where = prefix.map((node) => nodeName(node));
  const last = prefix.at(-1) ?? ({ name: name, opType: 'input' } as NodeProto);
  const p = P.parts.get(name)!.map((q) => P.num(last, q));
  for (const [k, inp] of L.inputs.entries()) {
    if (!L.stringInputs.has(inp.name)) continue;
    const unread = P.cols.find((c) => c.input === k && !c.categories);
    if (unread)
      throw new ZkinferError(
        'MODEL_UNSUPPORTED_GRAPH',
        `graph input "${inp.name}" holds strings, and column ${unread.name} is not read by a OneHotEncoder or LabelEncoder`,
        inp.name,
      );
  }

  // The flat layout: a categorical column takes one feature per category.
  const flatOf: number[] = [];
  let offset = 0;
  for (const [k, inp] of L.inputs.entries()) {
    const cols = P.cols.filter((c) => c.input === k);
    inp.offset = offset;
    for (const c of cols) {
      flatOf.push(offset);
      offset += c.categories ? c.categories.length : 1;
    }
    inp.size = offset - inp.offset;
    checkLimit(L.limits, 'maxLayerWidth', offset, `the input width (features of inputs up to and including ${inp.name}, categories one-hot)`, inp.name);
    if (cols.some((c) => c.categories)) inp.categories = cols.map((c) => c.categories);
    if (cols.some((c) => c.missing !== null)) inp.missing = cols.map((c) => c.missing);
  }
  const n = offset;
  const flat = (t: Term) => flatOf[t.col] + Math.max(0, t.cat);
  L.merged = true;
  const single = p.every((q) => q.terms.length === 1);
  const identityOrder = p.length === n && single && p.every((q, i) => flat(q.terms[0]) === i);
  if (identityOrder && p.every((q) => q.terms[0].coef === 1 && q.shift === 0)) {
    L.resetWhole(name, [1, n]);
  } else if (identityOrder) {
    L.reserveLayer(last, n, n, 2 * n);
    L.layers.push({
      kind: 'diag',
      name: where.at(-1)!,
      size: n,
      scale: Float64Array.from(p, (q) => q.terms[0].coef),
      shift: Float64Array.from(p, (q) => q.shift),
      nodes: where,
    });
    L.version++;
    L.resetWhole(name, [1, n]);
  } else {
    L.reserveLayer(last, n, p.length, n * p.length + p.length);
    const weights = new Float64Array(p.length * n);
    p.forEach((q, r) => {
      for (const t of q.terms) weights[r * n + flat(t)] += t.coef;
    });
    L.layers.push({
      kind: 'dense',
      name: where.at(-1) ?? name,
      inSize: n,
      outSize: p.length,
      weights,
      bias: Float64Array.from(p, (q) => q.shift),
      nodes: where,
    });
    L.version++;
    L.resetWhole(name, [1, p.length]);
  }
  return new Set(where);
}

/** A prefix node's output, per scalar, and its shape; undefined when the node is not one the prefix follows. */
function evalPart(P: Prefix, node: NodeProto): { parts: Part[]; shape: number[] } | undefined {
  const L = P.L;
  const op = node.opType ?? '';
  const ins = node.input ?? [];
  const konst = (i: number): Tensor | undefined => {
    const v = L.values.get(ins[i] ?? '');
    return v?.kind === 'const' ? v.t : undefined;
  };
  const x = P.parts.get(ins[0] ?? '');
  const shape = P.shapes.get(ins[0] ?? '') ?? [1, x?.length ?? 0];
  const rank = shape.length;
  const same = (parts: Part[]) => ({ parts, shape });
  if (op === 'Concat' || op === 'FeatureVectorizer') {
    if (ins.some((i) => !P.parts.has(i))) return undefined;
    const total = ins.reduce((a, i) => a + P.parts.get(i)!.length, 0);
    if (op === 'Concat') {
      const axis = attrInt(node, 'axis', 0);
      // Every dimension before the axis is 1 (a row): concatenating is appending.
      const a = axis < 0 ? axis + rank : axis;
      if (
        a <= 0 ||
        a >= rank ||
        ins.some(
          (i) =>
            P.shapes.get(i)!.length !== rank ||
            P.shapes
              .get(i)!
              .slice(0, a)
              .some((d) => d !== 1),
        )
      )
        return undefined;
    } else {
      const dims = attrInts(node, 'inputdimensions');
      if (!dims || dims.some((d, k) => d !== P.parts.get(ins[k])!.length)) return undefined;
    }
    P.width(node, total);
    let out = [1, total];
    if (op === 'Concat') {
      const axis = attrInt(node, 'axis', 0);
      const a = axis < 0 ? axis + rank : axis;
      out = [...shape];
      out[a] = ins.reduce((s, i) => s + P.shapes.get(i)![a], 0);
    }
    return { parts: ins.flatMap((i) => P.parts.get(i)!), shape: out };
  }
  if (!x) return undefined;
  if (ins.slice(1).some((i) => P.parts.has(i))) return undefined;
  if (op === 'Identity') return same(x);
  if (op === 'Cast') {
    const to = attrInt(node, 'to', 1);
    if ([1, 10, 11].includes(to)) return same(x);
    // To an integer type: exact on a category or an integer; a number would be truncated.
    if ([6, 7].includes(to))
      return same(
        x.map((q) =>
          q.kind === 'col' ? { ...q, cast: true } : q.integral ? q : fail(node, `casts a computed number to integer type ${to}: the truncation is not linear`),
        ),
      );
    return undefined;
  }
  if (op === 'Reshape') {
    const t = konst(1);
    if (!t) return undefined;
    const target = Array.from(t.data).map((d, i) => (d === 0 ? shape[i] : d));
    const known = target.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
    const out = target.map((d) => (d === -1 ? x.length / known : d));
    if (size(out) !== x.length || out.some((d) => !Number.isInteger(d)) || out[0] !== 1) return undefined;
    return { parts: x, shape: out };
  }
  if (op === 'Flatten') {
    const axis = attrInt(node, 'axis', 1);
    const a = axis < 0 ? axis + rank : axis;
    if (size(shape.slice(0, a)) !== 1) return undefined;
    return { parts: x, shape: [1, x.length] };
  }
  if (op === 'Squeeze' || op === 'Unsqueeze') {
    const axes = L.opset >= 13 && ins[1] ? (konst(1) ? Array.from(konst(1)!.data) : undefined) : attrInts(node, 'axes');
    if (!axes) return undefined;
    if (op === 'Squeeze') {
      const norm = axes.map((a) => (a < 0 ? a + rank : a));
      if (norm.includes(0)) return undefined;
      return { parts: x, shape: shape.filter((_, i) => !norm.includes(i)) };
    }
    const r = rank + axes.length;
    const norm = axes.map((a) => (a < 0 ? a + r : a));
    if (norm.includes(0)) return undefined;
    const out: number[] = [];
    let j = 0;
    for (let i = 0; i < r; i++) out.push(norm.includes(i) ? 1 : shape[j++]);
    return { parts: x, shape: out };
  }
  if (op === 'ArrayFeatureExtractor' || op === 'Gather') {
    const idx = konst(1);
    if (!idx) return undefined;
    const last = shape[rank - 1];
    if (x.length !== last) return undefined;
    let outShape: number[];
    if (op === 'Gather') {
      const axis = attrInt(node, 'axis', 0);
      if ((axis < 0 ? axis + rank : axis) !== rank - 1 || rank < 2) return undefined;
      outShape = [...shape.slice(0, -1), ...idx.shape];
    } else outShape = [...shape.slice(0, -1), idx.data.length];
    P.width(node, idx.data.length);
    const parts = Array.from(idx.data, (raw) => {
      const k = raw < 0 ? raw + x.length : raw;
      if (!(Number.isInteger(k) && k >= 0 && k < x.length)) fail(node, `column index ${raw} is outside ${x.length} features`);
      return x[k];
    });
    return { parts, shape: outShape };
  }
  if (op === 'OneHotEncoder') {
    const cats = attrStrings(node, 'cats_strings') ?? attrInts(node, 'cats_int64s')?.map(String);
    if (!cats) fail(node, 'has no categories (cats_strings or cats_int64s)');
    P.width(node, x.length * cats.length);
    const parts = x.flatMap((q) => {
      const col = P.category(node, q, cats);
      return cats.map((_, i): Part => ({ kind: 'num', terms: [{ col, cat: i, coef: 1 }], shift: 0, integral: true }));
    });
    return { parts, shape: [...shape, cats.length] };
  }
  if (op === 'LabelEncoder') {
    const keys = attrStrings(node, 'keys_strings') ?? attrInts(node, 'keys_int64s')?.map(String);
    const vi = attrInts(node, 'values_int64s');
    const vals = vi ?? attrFloats(node, 'values_floats');
    if (!keys) fail(node, 'has no keys_strings or keys_int64s');
    if (!vals) fail(node, 'maps to strings or has no values: only values_int64s or values_floats are supported');
    if (vals.length !== keys.length) fail(node, `has ${keys.length} keys and ${vals.length} values`);
    const parts = x.map((q): Part => {
      const col = P.category(node, q, keys);
      return { kind: 'num', terms: keys.map((_, i) => ({ col, cat: i, coef: vals[i] })).filter((t) => t.coef !== 0), shift: 0, integral: vi !== undefined };
    });
    return same(parts);
  }
  if (op === 'Imputer') {
    // The spec's default sentinel is 0.0; scikit-learn's missing value is NaN.
    const replaced = attribute(node, 'replaced_value_float');
    if (!replaced || !Number.isNaN(replaced.f)) {
      fail(
        node,
        'replaces a number, not NaN: a numeric sentinel is an ordinary input value to a circuit, which would have to ' +
          'refuse it (only NaN, what scikit-learn exports for missing values, is supported)',
      );
    }
    const vals = attrFloats(node, 'imputed_value_floats');
    if (!vals) fail(node, 'has no imputed_value_floats (integer imputation is not supported)');
    if (vals.length !== 1 && vals.length !== x.length) fail(node, `has ${vals.length} imputed values for ${x.length} features`);
    const parts = x.map((q0, i): Part => {
      const q = P.num(node, q0);
      const c = vals.length === 1 ? vals[0] : vals[i];
      if (!Number.isFinite(c)) fail(node, `imputed value ${i} is not finite`);
      const t = q.terms[0];
      if (q.terms.length !== 1 || t.cat !== -1 || t.coef === 0)
        fail(node, `feature ${i} is not one input column (scaled or shifted): only a column's own missing value can be imputed before proving`);
      // Missing x makes this scalar NaN, which becomes c: x = (c - shift) / coef gives c.
      const v = (c - q.shift) / t.coef;
      const col = P.cols[t.col];
      if (col.missing !== null && col.missing !== v) fail(node, `column ${col.name} is imputed twice with different values`);
      col.missing = v;
      return q;
    });
    return same(parts);
  }
  if (op === 'Scaler') {
    const a = attrFloats(node, 'scale') ?? [];
    const b = attrFloats(node, 'offset') ?? [];
    const at = (v: ArrayLike<number>, i: number, d: number) => (v.length === 0 ? d : v.length === 1 ? v[0] : v[i]);
    if ((a.length > 1 && a.length !== x.length) || (b.length > 1 && b.length !== x.length)) return undefined;
    // (sum + shift - offset) * s
    return same(
      x.map((q0, i) => {
        const q = P.num(node, q0);
        const s = at(a, i, 1);
        return { kind: 'num', terms: q.terms.map((t) => ({ ...t, coef: t.coef * s })), shift: (q.shift - at(b, i, 0)) * s, integral: false };
      }),
    );
  }
  if (ELEMENTWISE.includes(op)) {
    if (ins.length !== 2) return undefined;
    const c = konst(1);
    if (!c) return undefined;
    const v = broadcastTo(c, [1, x.length], nodeName(node));
    return same(
      x.map((q0, i): Num => {
        const q = P.num(node, q0);
        const scale = op === 'Mul' ? v[i] : op === 'Div' ? 1 / v[i] : 1;
        const add = op === 'Add' ? v[i] : op === 'Sub' ? -v[i] : 0;
        return { kind: 'num', terms: q.terms.map((t) => ({ ...t, coef: t.coef * scale })), shift: q.shift * scale + add, integral: false };
      }),
    );
  }
  return undefined;
}
