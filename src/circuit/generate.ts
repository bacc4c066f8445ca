import { type Cursor, cursorKnown, emitSign, type EmitContext, ind, paramCommitmentConstraints, ParamSink, signDigits } from '../layers/emit.ts';
import { ZkinferError } from '../core/errors.ts';
import { type QLayer, qlayerModule } from '../layers/index.ts';
import type { QuantizedModel } from '../quant/quantize.ts';
import { activationBits } from '../fixed/settings.ts';
import { packedCount } from '../fixed/pack.ts';
import { isUnsigned, type OneHotGroup, oneHotGroups } from '../fixed/input-quant.ts';
import { type ExplainSpec, explainCount, explainOverhead, explainWidth } from '../quant/explain.ts';
import { emitExplain } from './explain.ts';

/**
 * Circuit generation: a pure function from a quantized model to `.circom` text.
 * Each layer kind's module (src/layers/) emits the layer's component wiring and states
 * its exact constraint count (the same `count` the estimate asks), so the count can be
 * checked against what circom reports.
 */

/** Where the generated text comes from, per layer, for the layer table. */
export interface LayerPlan {
  name: string;
  kind: QLayer['kind'] | 'input' | 'head' | 'parameters' | 'explain';
  size: number;
  /** Exact non-linear constraint count after circom --O2. */
  constraints: number;
  /** How the count arises, e.g. "64 x 32". */
  formula: string;
}

export interface GeneratedCircuit {
  /** The main .circom file; it includes `zkinfer.circom` from `circuits/`. */
  source: string;
  plan: LayerPlan[];
  constraints: number;
  /** Template name of the model (wrapped by the proof circuit). */
  template: string;
  /** Number of decision signals after the outputs. */
  decisionSize: number;
  /**
   * A private model's parameter witness, in the order the circuit reads it (`p[k]`): the
   * values the prover supplies and the parameter commitment hashes. Absent for a public model.
   */
  params?: bigint[];
}

/**
 * Range checks of inputs with per-feature widths: feature i must lie in
 * [-2^(b_i - 1), 2^(b_i - 1)). One component array per distinct width (an array's
 * elements share a template instance shape); `idx` maps each back to its feature.
 * A categorical column's features (`groups`) are checked as one-hot instead: each is 0
 * or `one` (1.0 at the model's scale), and they sum to `one`, so exactly one is set; that
 * also bounds them, and their sign digit is 1.
 */
function emitInputChecks(
  bits: number[],
  lines: string[],
  groups: OneHotGroup[] = [],
  one = 0n,
  unsigned: (i: number) => boolean = () => false,
): { pos: string; constraints: number; formula: string } {
  const inGroup = new Set(groups.flatMap((g) => Array.from({ length: g.size }, (_, k) => g.start + k)));
  const groupsByWidth = new Map<string, number[]>();
  bits.forEach((b, i) => {
    const key = `${b}${unsigned(i) ? 'u' : ''}`;
    if (!inGroup.has(i)) groupsByWidth.set(key, [...(groupsByWidth.get(key) ?? []), i]);
  });
  const anyUnsigned = bits.some((_, i) => !inGroup.has(i) && unsigned(i));
  lines.push(
    `${ind}// inputs: feature i must lie in [-2^(b_i - 1), 2^(b_i - 1)), b_i its own ` +
      `width${anyUnsigned ? ', or in [0, 2^b_i) when its range starts at 0 or above' : ''}`,
    `${ind}signal inPos[${bits.length}];`,
  );
  const parts: string[] = [];
  let constraints = 0;
  const order = [...groupsByWidth.entries()].sort((x, y) => parseInt(x[0]) - parseInt(y[0]) || x[0].localeCompare(y[0]));
  for (const [key, idx] of order) {
    const b = parseInt(key);
    const u = key.endsWith('u');
    const c = `inSign${key}`;
    // Unsigned: the b digits of x itself (Rescale decomposes its input plus 2^(b-1)), and x >= 0.
    lines.push(
      `${ind}var ${c}Idx[${idx.length}] = [${idx.join(',')}];`,
      `${ind}component ${c}[${idx.length}];`,
      `${ind}for (var k = 0; k < ${idx.length}; k++) {`,
      `${ind}${ind}${c}[k] = Rescale(${b}, 0);`,
      u ? `${ind}${ind}${c}[k].in <== x[${c}Idx[k]] - ${1n << BigInt(b - 1)};` : `${ind}${ind}${c}[k].in <== x[${c}Idx[k]];`,
      u ? `${ind}${ind}inPos[${c}Idx[k]] <== 1;` : `${ind}${ind}inPos[${c}Idx[k]] <== ${c}[k].pos;`,
      `${ind}}`,
    );
    parts.push(`${idx.length} x ${b}${u ? 'u' : ''}`);
    constraints += idx.length * b;
  }
  for (const g of groups) {
    lines.push(
      `${ind}// categorical column ${g.name}: one-hot over its ${g.size} categories, each feature 0 or ${one} (1.0), exactly one set`,
      `${ind}var oh${g.start}Sum = 0;`,
      `${ind}for (var i = ${g.start}; i < ${g.start + g.size}; i++) {`,
      `${ind}${ind}x[i] * (x[i] - ${one}) === 0;`,
      `${ind}${ind}inPos[i] <== 1;`,
      `${ind}${ind}oh${g.start}Sum += x[i];`,
      `${ind}}`,
      `${ind}oh${g.start}Sum === ${one};`,
    );
    constraints += g.size;
  }
  if (groups.length > 0) parts.push(`${groups.reduce((a, g) => a + g.size, 0)} x 1 (one-hot)`);
  return { pos: 'inPos', constraints, formula: parts.join(' + ') };
}

/** Variants of the model template that a model with proven reasons or fairness uses (src/circuit/explain.ts). */
export interface TemplateOptions {
  /**
   * The model without its input checks: it takes `x` with its sign digits `inPos` as
   * inputs (a copy evaluated on the checked input with some features replaced by declared
   * constants), and a private model's parameters `p` without their commitment.
   */
  core?: boolean;
  /** Also output the inputs' sign digits (`xPos`), for the cores to reuse. */
  exposePos?: boolean;
}

/**
 * Generates the model template. Inputs `x` are range-checked to the activation width
 * (this bounds every accumulator: see `checkNoWrap`). Outputs `y` are the final
 * values; `decision` holds the sigmoid thresholds or the softmax argmax.
 */
export function generateModelTemplate(q: QuantizedModel, template = 'ZkinferModel', opts: TemplateOptions = {}): GeneratedCircuit {
  const w = activationBits(q.settings);
  const lines: string[] = [];
  const plan: LayerPlan[] = [];
  const decisionSize = q.head === 'sigmoid' ? q.outputSize : q.head === 'softmax' || q.head === 'argmax' ? 1 : 0;
  // Top-level templates of layer kinds whose templates are not in circuits/ (none of the built-in ones).
  const extra = [...new Set(q.layers.map((l) => qlayerModule(l.kind).templates).filter((t): t is string => !!t))];
  lines.push(...extra);
  lines.push(`template ${template}() {`, `${ind}signal input x[${q.inputSize}];`, `${ind}signal output y[${q.outputSize}];`);
  if (decisionSize > 0) lines.push(`${ind}signal output decision[${decisionSize}];`);
  // A private model: the parameters are a witness `p`, declared once their count is known.
  const params = q.private ? new ParamSink() : undefined;
  const paramsAt = lines.length;
  let inPos: string;
  const groups = oneHotGroups(q.inputs);
  if (opts.core) {
    lines.push(`${ind}// the inputs' sign digits, from the caller's input checks (or constants it set)`, `${ind}signal input inPos[${q.inputSize}];`);
    inPos = 'inPos';
  } else if (groups.length > 0) {
    const r = emitInputChecks(q.inputQuant?.bits ?? Array(q.inputSize).fill(w), lines, groups, 1n << BigInt(q.settings.scaleBits), (i) =>
      isUnsigned(q.inputQuant, i),
    );
    inPos = r.pos;
    plan.push({ name: 'input', kind: 'input', size: q.inputSize, constraints: r.constraints, formula: r.formula });
  } else if (!q.inputQuant) {
    lines.push(`${ind}// inputs: each must lie in [-2^${w - 1}, 2^${w - 1})`);
    inPos = emitSign({ values: 'x', pos: null, size: q.inputSize }, w, { q, index: 0, lines }, 'in');
    plan.push({ name: 'input', kind: 'input', size: q.inputSize, constraints: q.inputSize * w, formula: `${q.inputSize} x ${w}` });
  } else {
    const iq = q.inputQuant;
    const r = emitInputChecks(iq.bits, lines, [], 0n, (i) => isUnsigned(iq, i));
    inPos = r.pos;
    plan.push({ name: 'input', kind: 'input', size: q.inputSize, constraints: r.constraints, formula: r.formula });
  }

  if (opts.exposePos) lines.push(`${ind}signal output xPos[${q.inputSize}];`, `${ind}xPos <== ${inPos};`);
  let cur: Cursor = { values: 'x', pos: inPos, size: q.inputSize };
  q.layers.forEach((layer, index) => {
    const m = qlayerModule(layer.kind);
    const ctx: EmitContext = { q, index, lines, next: q.layers[index + 1]?.kind, params };
    const shape = m.qshape(layer, ctx);
    const [lo, hi] = (layer as { span?: [number, number] }).span ?? [0, cur.size];
    const { constraints, formula } = m.count(shape, { settings: q.settings, known: cursorKnown(cur, lo, hi), pooled: cur.acc });
    cur = m.emit(layer, shape, cur, ctx);
    plan.push({ name: layer.name, kind: layer.kind, size: cur.size, constraints, formula });
  });

  lines.push(`${ind}y <== ${cur.values};`);
  if (q.head === 'sigmoid') {
    const ctx = { q, index: q.layers.length, lines };
    lines.push(`${ind}// sigmoid head: decision = (logit >= 0), i.e. probability >= 0.5`);
    const { pos, had: hadPos } = signDigits(cur, w, ctx, 'head');
    lines.push(`${ind}decision <== ${pos};`);
    const c = hadPos ? 0 : q.outputSize * w;
    plan.push({ name: 'head', kind: 'head', size: q.outputSize, constraints: c, formula: hadPos ? 'sign digits reused' : `${q.outputSize} x ${w}` });
  } else if (q.head === 'softmax' || q.head === 'argmax') {
    lines.push(
      `${ind}// ${q.head} head: decision = index of the first maximum ${q.head === 'softmax' ? 'logit' : 'score'}`,
      `${ind}component head = Argmax(${q.outputSize}, ${w});`,
      `${ind}head.in <== ${cur.values};`,
      `${ind}decision[0] <== head.out;`,
    );
    plan.push({ name: 'head', kind: 'head', size: 1, constraints: q.outputSize * (w + 3), formula: `${q.outputSize} x (${w} + 3)` });
  }
  if (params) {
    const n = params.values.length;
    if (n === 0) throw new ZkinferError('SETTINGS', 'this model has no parameters to keep private: register it as public', 'visibility');
  }
  if (params && opts.core) lines.splice(paramsAt, 0, `${ind}signal input ${params.signal}[${params.values.length}];`);
  else if (params) {
    const n = params.values.length;
    lines.splice(paramsAt, 0, `${ind}signal input ${params.signal}[${n}];`, `${ind}signal input blinding;`, `${ind}signal output paramCommitment;`);
    lines.push(
      `${ind}// the parameter commitment: Poseidon over the ${n} parameters and the blinding`,
      `${ind}component params = ParamCommitment(${n});`,
      `${ind}params.in <== ${params.signal};`,
      `${ind}params.blinding <== blinding;`,
      `${ind}paramCommitment <== params.out;`,
    );
    const c = paramCommitmentConstraints(n);
    plan.push({ name: 'parameters', kind: 'parameters', size: n, constraints: c, formula: `Poseidon over ${n} parameters and a blinding` });
  }
  lines.push('}');
  return {
    source: lines.join('\n') + '\n',
    plan,
    constraints: plan.reduce((a, p) => a + p.constraints, 0),
    template,
    decisionSize,
    ...(params ? { params: params.values } : {}),
  };
}

/** The includes of a circuit of `q`: the model templates, the commitments, a private model's templates, an explanation's. */
function includes(q: QuantizedModel, commitment: boolean, explain = false): string[] {
  return [
    'include "zkinfer.circom";',
    ...(commitment ? ['include "commitment.circom";'] : []),
    ...(q.private ? ['include "private.circom";'] : []),
    ...(explain ? ['include "explain.circom";'] : []),
  ];
}

/** A standalone circuit with the model as main: outputs public, inputs private. */
export function generateCircuit(q: QuantizedModel): GeneratedCircuit {
  const model = generateModelTemplate(q);
  return {
    ...model,
    source: ['pragma circom 2.1.6;', '', ...includes(q, false), '', model.source, 'component main = ZkinferModel();', ''].join('\n'),
  };
}

/** Names of the public signals of a proof circuit, in the order snarkjs lists them. */
export function publicSignalNames(q: QuantizedModel, decisionSize: number, publicInput = false, explained = 0): string[] {
  const w = activationBits(q.settings);
  const packed = (name: string, count: number, width = w) => Array.from({ length: packedCount(count, width) }, (_, i) => `${name}[${i}]`);
  return [
    'modelCommitment',
    ...(publicInput ? packed('packedFeatures', q.inputSize) : ['inputCommitment']),
    ...packed('packedOutputs', q.outputSize + decisionSize),
    ...(explained > 0 ? packed('packedExplain', explained, explainWidth(w)) : []),
    'nonce',
  ];
}

/**
 * The proof circuit: the model plus what binds a proof to its context. Public signals,
 * in this order (outputs first, then public inputs, as circom lays them out):
 * modelCommitment, inputCommitment (or packedFeatures[...] when the input is public),
 * packedOutputs[...] (y then decision, packed floor(250 / W) per element), nonce.
 * Each public signal costs an EVM verifier about 6.5k gas, hence the packing.
 * - modelCommitment is a constant of the circuit (a hash of the model id and the model
 *   template), so the proof names the model it ran.
 * - inputCommitment is a Poseidon chain over the salt and the packed quantized features;
 *   with a public input, the packed quantized features are public signals instead.
 * - nonce is a public input, squared into a constraint so the proof is bound to it.
 */
export function generateProofCircuit(
  q: QuantizedModel,
  modelCommitment: bigint,
  opts: { publicInput?: boolean; paramCommitment?: bigint; explain?: ExplainSpec } = {},
): GeneratedCircuit & { publicSignals: string[] } {
  const ex = opts.explain && (opts.explain.reasons > 0 || opts.explain.protected.length > 0) ? opts.explain : undefined;
  const model = generateModelTemplate(q, 'ZkinferModel', { exposePos: ex !== undefined });
  const core = ex ? generateModelTemplate(q, 'ZkinferCore', { core: true }) : undefined;
  const pc = opts.paramCommitment;
  if (q.private && pc === undefined) throw new Error('a private model needs its parameter commitment');
  const nParams = model.params?.length ?? 0;
  const d = model.decisionSize;
  const pub = opts.publicInput === true;
  const w = activationBits(q.settings);
  const nOut = q.outputSize + d;
  const explainLines: string[] = [];
  const plan = [...model.plan];
  if (ex) {
    const values = emitExplain(q, ex, d, explainLines);
    const m = explainCount(ex);
    explainLines.push(
      `${ind}// the reasons and fairness bits, packed: they are public signals bound like the outputs`,
      `${ind}component packEx = Pack(${m}, ${explainWidth(w)});`,
      `${ind}packEx.in <== ${values};`,
      `${ind}packedExplain <== packEx.out;`,
    );
    const o = explainOverhead(ex, q, d);
    const per = core!.constraints;
    plan.push({
      name: 'explain',
      kind: 'explain',
      size: m,
      constraints: o.copies * per + o.constraints,
      formula: `${o.copies} model copies x ${per} + ${o.constraints}`,
    });
  }
  const lines = [
    'pragma circom 2.1.6;',
    '',
    ...includes(q, !pub, ex !== undefined),
    '',
    model.source,
    ...(core ? [core.source] : []),
    'template ZkinferProof() {',
    `${ind}signal output modelCommitment;`,
    pub ? `${ind}signal output packedFeatures[${packedCount(q.inputSize, w)}];` : `${ind}signal output inputCommitment;`,
    `${ind}signal output packedOutputs[${packedCount(nOut, w)}];`,
    ...(ex ? [`${ind}signal output packedExplain[${packedCount(explainCount(ex), explainWidth(w))}];`] : []),
    `${ind}signal input nonce;`,
    `${ind}signal input x[${q.inputSize}];`,
    ...(pub ? [] : [`${ind}signal input salt;`]),
    ...(q.private ? [`${ind}signal input params[${nParams}];`, `${ind}signal input blinding;`] : []),
    '',
    `${ind}modelCommitment <== ${modelCommitment};`,
    `${ind}component model = ZkinferModel();`,
    `${ind}model.x <== x;`,
    ...(q.private
      ? [
          `${ind}// The private parameters must be the committed ones: the commitment is a constant of this circuit,`,
          `${ind}// in the descriptor that modelCommitment hashes.`,
          `${ind}model.p <== params;`,
          `${ind}model.blinding <== blinding;`,
          `${ind}model.paramCommitment === ${pc};`,
        ]
      : []),
    `${ind}// y, then the decision, packed: fewer public signals, each cheaper to verify on chain.`,
    `${ind}component packOut = Pack(${nOut}, ${w});`,
    `${ind}for (var i = 0; i < ${q.outputSize}; i++) {`,
    `${ind}${ind}packOut.in[i] <== model.y[i];`,
    `${ind}}`,
    ...(d > 0 ? [`${ind}for (var i = 0; i < ${d}; i++) {`, `${ind}${ind}packOut.in[${q.outputSize} + i] <== model.decision[i];`, `${ind}}`] : []),
    `${ind}packedOutputs <== packOut.out;`,
    ...explainLines,
    ...(pub
      ? [
          `${ind}// The input is public: the packed quantized features are public signals.`,
          `${ind}component packIn = Pack(${q.inputSize}, ${w});`,
          `${ind}packIn.in <== x;`,
          `${ind}packedFeatures <== packIn.out;`,
        ]
      : [
          `${ind}component commit = InputCommitment(${q.inputSize}, ${activationBits(q.settings)});`,
          `${ind}commit.in <== x;`,
          `${ind}commit.salt <== salt;`,
          `${ind}inputCommitment <== commit.out;`,
        ]),
    `${ind}// A public input that no constraint touches could be changed freely; squaring it`,
    `${ind}// puts the nonce into the constraint system.`,
    `${ind}signal nonceSquared;`,
    `${ind}nonceSquared <== nonce * nonce;`,
    '}',
    '',
    'component main {public [nonce]} = ZkinferProof();',
    '',
  ];
  return {
    ...model,
    plan,
    constraints: plan.reduce((a, p) => a + p.constraints, 0),
    source: lines.join('\n'),
    publicSignals: publicSignalNames(q, d, pub, ex ? explainCount(ex) : 0),
  };
}
