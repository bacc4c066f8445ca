import type { InputQuant } from '../fixed/input-quant.ts';
import type { QuantSettings } from '../fixed/settings.ts';

/** Shared pieces of circuit emission: the cursor over the current vector, sign digits, lists, spans. */

/** Names of the signal arrays holding the current vector, and its sign digits if known. */
export interface Cursor {
  values: string;
  pos: string | null;
  size: number;
  /** Set when `values` are a linear layer's accumulators, not yet rescaled by 2^acc (a max pool follows). */
  acc?: number;
  /** Per element, its entry in `pos`, or -1 when its sign digit is not known; absent: the same index. */
  posIdx?: Int32Array;
}

export interface EmitContext {
  /** What of the quantized model a layer's emission reads. */
  q: { settings: QuantSettings; inputSize: number; inputQuant: InputQuant | null; private?: boolean };
  /** Names the layer's signals (`l<index>`). */
  index: number | string;
  lines: string[];
  /** The kind of the layer after this one, if any. */
  next?: string;
  /** A private model's parameter witness (`q.private`): where a layer's parameters go instead of constants. */
  params?: ParamSink;
}

/**
 * The parameter witness of a private model: a layer hands over its parameter values and
 * gets the index of the first in the signal array `signal` (`p[start + k]`). The values
 * become the prover's private input; the circuit text holds only the indices.
 */
export class ParamSink {
  readonly signal = 'p';
  readonly values: bigint[] = [];
  take(values: readonly bigint[]): number {
    const start = this.values.length;
    for (const v of values) this.values.push(v);
    return start;
  }
}

export const ind = '    ';

/** Emits `signal name[n]` plus a Rescale(N, 0) per entry to get sign digits of `cur`. */
export function emitSign(cur: Cursor, width: number, ctx: EmitContext, tag: string): string {
  const c = `${tag}Sign`;
  ctx.lines.push(
    `${ind}component ${c}[${cur.size}];`,
    `${ind}signal ${c}Pos[${cur.size}];`,
    `${ind}for (var i = 0; i < ${cur.size}; i++) {`,
    `${ind}${ind}${c}[i] = Rescale(${width}, 0);`,
    `${ind}${ind}${c}[i].in <== ${cur.values}[i];`,
    `${ind}${ind}${c}Pos[i] <== ${c}[i].pos;`,
    `${ind}}`,
  );
  return `${c}Pos`;
}

/** Whether elements [lo, hi) of `cur` all have known sign digits (what `signDigits` and `emitSpanned` reuse). */
export function cursorKnown(cur: Cursor, lo = 0, hi = cur.size): boolean {
  if (cur.pos === null) return false;
  if (!cur.posIdx) return true;
  for (let i = lo; i < hi; i++) if (cur.posIdx[i] < 0) return false;
  return true;
}

/**
 * Sign digits of every element of `cur`: the known ones when all are known (through
 * `posIdx` when they sit in another order), else computed (`had` false).
 */
export function signDigits(cur: Cursor, width: number, ctx: EmitContext, tag: string): { pos: string; had: boolean } {
  if (cur.pos !== null && !cur.posIdx) return { pos: cur.pos, had: true };
  if (cur.pos !== null && cur.posIdx && cur.posIdx.every((k) => k >= 0)) {
    ctx.lines.push(
      `${ind}var ${tag}PI[${cur.size}] = ${list(Array.from(cur.posIdx))};`,
      `${ind}signal ${tag}Pm[${cur.size}];`,
      `${ind}for (var i = 0; i < ${cur.size}; i++) {`,
      `${ind}${ind}${tag}Pm[i] <== ${cur.pos}[${tag}PI[i]];`,
      `${ind}}`,
    );
    return { pos: `${tag}Pm`, had: true };
  }
  return { pos: emitSign(cur, width, ctx, tag), had: false };
}

export function matrixLiteral(values: bigint[], rows: number, cols: number): string {
  const out: string[] = [];
  for (let j = 0; j < rows; j++) out.push(`[${values.slice(j * cols, (j + 1) * cols).join(',')}]`);
  return `[${out.join(',\n        ')}]`;
}

/** Wraps a long list of numbers over lines of about 20 entries (compact, diff-friendly text). */
export function list(values: (bigint | number)[]): string {
  const out: string[] = [];
  for (let i = 0; i < values.length; i += 20) out.push(values.slice(i, i + 20).join(','));
  return `[${out.join(',\n        ')}]`;
}

/** `t[targets[k]] <== cur[sources[k]]`: carried values, copied (linear, no constraint after --O2). */
export function emitCopies(t: string, targets: number[], sources: number[], cur: Cursor, ctx: EmitContext): void {
  ctx.lines.push(
    `${ind}var ${t}Ci[${targets.length}] = ${list(targets)};`,
    `${ind}var ${t}Cs[${targets.length}] = ${list(sources)};`,
    `${ind}for (var k = 0; k < ${targets.length}; k++) {`,
    `${ind}${ind}${t}[${t}Ci[k]] <== ${cur.values}[${t}Cs[k]];`,
    `${ind}}`,
  );
}

/** A per-element emission on `size` elements (a span's, or all). */
type Inner<Q> = (layer: Q, cur: Cursor, ctx: EmitContext) => Cursor;

/**
 * An elementwise layer with a `span` acts on those elements only (the others are
 * carried): `emit` runs on a copy of the span (linear, no constraint) with the layer's
 * per-element parameters (`perElement`) sliced to it, and the result is put back in place.
 */
export function emitSpanned<Q extends { name: string; size: number; span?: [number, number] }>(
  layer: Q,
  cur: Cursor,
  ctx: EmitContext,
  emit: Inner<Q>,
  perElement: readonly (keyof Q & string)[] = [],
): Cursor {
  if (!layer.span) return emit(layer, cur, ctx);
  const [lo, hi] = layer.span;
  const n = hi - lo;
  const t = `l${ctx.index}`;
  ctx.lines.push(
    `${ind}// ${layer.name}: on elements ${lo} to ${hi - 1} of ${layer.size}, the others carried`,
    `${ind}signal ${t}In[${n}];`,
    `${ind}for (var i = 0; i < ${n}; i++) {`,
    `${ind}${ind}${t}In[i] <== ${cur.values}[${lo} + i];`,
    `${ind}}`,
  );
  let pos: string | null = null;
  const idx = Array.from({ length: n }, (_, i) => (cur.posIdx ? cur.posIdx[lo + i] : lo + i));
  if (cur.pos !== null && idx.every((k) => k >= 0)) {
    pos = `${t}InPos`;
    ctx.lines.push(
      `${ind}var ${t}InPI[${n}] = ${list(idx)};`,
      `${ind}signal ${pos}[${n}];`,
      `${ind}for (var i = 0; i < ${n}; i++) {`,
      `${ind}${ind}${pos}[i] <== ${cur.pos}[${t}InPI[i]];`,
      `${ind}}`,
    );
  }
  // Per-element parameters are sliced to the span.
  const sliced = Object.fromEntries(perElement.map((k) => [k, (layer[k] as unknown[]).slice(lo, hi)]));
  const inner = { ...layer, size: n, span: undefined, ...sliced } as Q;
  const r = emit(inner, { values: `${t}In`, pos, size: n }, { ...ctx, index: `${ctx.index}s` });
  ctx.lines.push(
    `${ind}signal ${t}[${layer.size}];`,
    `${ind}for (var i = 0; i < ${layer.size}; i++) {`,
    `${ind}${ind}if (i < ${lo} || i >= ${hi}) {`,
    `${ind}${ind}${ind}${t}[i] <== ${cur.values}[i];`,
    `${ind}${ind}} else {`,
    `${ind}${ind}${ind}${t}[i] <== ${r.values}[i - ${lo}];`,
    `${ind}${ind}}`,
    `${ind}}`,
  );
  return { values: t, pos: null, size: layer.size };
}

/** circomlib's partial rounds of Poseidon by t - 2 (t = inputs + 1): `N_ROUNDS_P` in poseidon.circom. */
const POSEIDON_PARTIAL_ROUNDS = [56, 57, 56, 60, 60, 63, 64, 63, 60, 66, 60, 65, 70, 60, 64, 68];

/** Constraints of circomlib's Poseidon(n) after --O2: 3 per S-box (8 full rounds of t, the partial ones of 1), less 3. */
export function poseidonConstraints(inputs: number): number {
  const t = inputs + 1;
  return 3 * (8 * t + POSEIDON_PARTIAL_ROUNDS[t - 2]) - 3;
}

/** Constraints of `ParamCommitment(n)` (circuits/private.circom): Poseidon(blinding, 15 parameters), then Poseidon(h, 15 more) per block. */
export function paramCommitmentConstraints(n: number): number {
  let done = Math.min(15, n);
  let total = poseidonConstraints(done + 1);
  while (done < n) {
    const take = Math.min(15, n - done);
    total += poseidonConstraints(take + 1);
    done += take;
  }
  return total;
}

/** Signed values of width W per packed parameter (their digits fill at most 252 bits, below the field's 253). */
export const valuesPerWord = (W: number): number => Math.floor(252 / W);

/** Values in [-2^(W-1), 2^(W-1)) packed `valuesPerWord(W)` to a parameter: v + 2^(W-1) at bit k W (UnpackSigned). */
export function packSigned(vs: readonly bigint[], W: number): bigint[] {
  const K = valuesPerWord(W);
  const half = 1n << BigInt(W - 1);
  const words: bigint[] = [];
  for (let k = 0; k < vs.length; k += K) words.push(vs.slice(k, k + K).reduce((w, v, j) => w + ((v + half) << BigInt(j * W)), 0n));
  return words;
}

/**
 * `name[n]` = the n signed values of width W packed in the parameters from `p[w0]`
 * (UnpackSigned components, one per word).
 */
export function emitUnpack(ctx: EmitContext, name: string, n: number, W: number, w0: number): void {
  const p = ctx.params!.signal;
  const K = valuesPerWord(W);
  const full = Math.floor(n / K);
  const rest = n % K;
  ctx.lines.push(`${ind}signal ${name}[${n}];`);
  if (full > 0) {
    ctx.lines.push(
      `${ind}component ${name}U[${full}];`,
      `${ind}for (var u = 0; u < ${full}; u++) {`,
      `${ind}${ind}${name}U[u] = UnpackSigned(${K}, ${W});`,
      `${ind}${ind}${name}U[u].word <== ${p}[${w0} + u];`,
      `${ind}${ind}for (var k = 0; k < ${K}; k++) {`,
      `${ind}${ind}${ind}${name}[u * ${K} + k] <== ${name}U[u].v[k];`,
      `${ind}${ind}}`,
      `${ind}}`,
    );
  }
  if (rest > 0) {
    ctx.lines.push(
      `${ind}component ${name}R = UnpackSigned(${rest}, ${W});`,
      `${ind}${name}R.word <== ${p}[${w0 + full}];`,
      `${ind}for (var k = 0; k < ${rest}; k++) {`,
      `${ind}${ind}${name}[${full * K} + k] <== ${name}R.v[k];`,
      `${ind}}`,
    );
  }
}

/** The fewest bits W (at least 2) with every value in [-2^(W-1), 2^(W-1)): the packing width of a private layer's parameters. */
export function signedWidth(vs: readonly bigint[]): number {
  let W = 2;
  for (const v of vs) {
    const m = v < 0n ? -v - 1n : v;
    while (m >= 1n << BigInt(W - 1)) W++;
  }
  return W;
}
