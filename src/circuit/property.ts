import { ZkinferError } from '../core/errors.ts';
import type { PropertyStatement } from '../bundle/property.ts';
import type { ModelIR } from '../model/ir.ts';
import type { QuantizedModel } from '../quant/quantize.ts';
import { ind, signedWidth, valuesPerWord } from '../layers/emit.ts';

/** What to prove about a private model: a named input unused, or a linear scorecard monotone in it. */
export type PropertySpec = { kind: 'unused'; input: string } | { kind: 'monotone'; input: string; direction: 'increasing' | 'decreasing' };

/** A statement and where its claim sits in the parameter witness. */
export interface PropertyPlan {
  statement: PropertyStatement;
  /** Positions, among the first layer's weights (in its term order), of the weights the claim is about. */
  indices: number[];
  /**
   * How those weights sit in the parameter witness: the first layer's weights come first,
   * packed `valuesPerWord(width)` to a word (`packSigned`), `total` of them; the claim is
   * about weight i = slot i mod K of word floor(i / K).
   */
  packing: { width: number; total: number };
  /** The first layer's quantized weights (the values the claim is about; never in the circuit). */
  weights: bigint[];
  /** What each of them must be: zero, >= 0, or <= 0. */
  check: 'zero' | 'nonnegative' | 'nonpositive';
}

/**
 * Bits of the range check of a monotone proof: a weight w is >= 0 when w has a 252-bit
 * decomposition (2^252 < r/2, so the field element is a non-negative signed integer), and
 * every weight a compiled model can hold has |w| < r/4 < 2^252 (its no-wrap check bounds
 * |w| * 2^(activation bits - 1) below r/2), so any non-negative weight has one.
 */
export const WEIGHT_BITS = 252;

const refuse = (message: string, field = 'property'): never => {
  throw new ZkinferError('SETTINGS', message, field);
};

/** Layers after a scorecard's dense layer that keep it monotone (non-decreasing functions). */
const MONOTONE_AFTER = new Set(['relu', 'hard_sigmoid', 'clip', 'maxpool', 'leaky_relu']);

/**
 * The statement and the witness positions of a property of a private model (`q.private`).
 * The first layer takes the first parameters (its weights, then its biases): dense reads
 * feature i in column i (weight j * inSize + i), sparse in every term k with cols[k] = i.
 */
export function propertyPlan(ir: ModelIR, q: QuantizedModel, spec: PropertySpec): PropertyPlan {
  if (!q.private) refuse('a property proof is about a private model\u2019s committed parameters: compile the model with visibility private');
  const input = ir.inputs.find((i) => i.name === spec.input);
  if (!input) refuse(`the model has no input named ${spec.input} (inputs: ${ir.inputs.map((i) => i.name).join(', ')})`, 'input');
  const features = Array.from({ length: input!.size }, (_, k) => input!.offset + k);
  const first = q.layers[0];
  if (!first || (first.kind !== 'dense' && first.kind !== 'sparse'))
    refuse(`the model's first layer is ${first ? `${first.name} (${first.kind})` : 'missing'}: property proofs need a first dense or sparse layer`);
  const layer = first as Extract<QuantizedModel['layers'][number], { kind: 'dense' | 'sparse' }>;
  if (layer.inSize !== ir.inputSize) refuse(`the first layer reads ${layer.inSize} values, the model has ${ir.inputSize} input features`);
  const wanted = new Set(features);
  let indices: number[];
  if (layer.kind === 'dense') {
    indices = Array.from({ length: layer.outSize }, (_, j) => features.map((i) => j * layer.inSize + i)).flat();
  } else {
    indices = layer.cols.flatMap((c, k) => (wanted.has(c) ? [k] : []));
  }
  // As the private linear layer packs them (src/layers/linear.ts): a layer without terms has one zero weight.
  const weights = layer.weights.length > 0 ? layer.weights : [0n];
  const packing = { width: signedWidth(weights), total: weights.length };
  if (spec.kind === 'unused') return { statement: { kind: 'unused', input: spec.input, features }, indices, check: 'zero', packing, weights };
  checkScorecard(ir, q, input!.categories?.some((c) => c !== null) === true, spec.input);
  return {
    statement: { kind: 'monotone', input: spec.input, direction: spec.direction, features },
    indices,
    check: spec.direction === 'increasing' ? 'nonnegative' : 'nonpositive',
    packing,
    weights,
  };
}

/** A linear scorecard: one dense layer with one output, then only monotone parameter-free layers; a numeric input. */
function checkScorecard(ir: ModelIR, q: QuantizedModel, categorical: boolean, name: string): void {
  const [first, ...rest] = q.layers;
  if (first.kind !== 'dense' || first.outSize !== 1) {
    const outs = 'outSize' in first ? ` with ${first.outSize} outputs` : '';
    refuse(
      `monotone proofs are for linear scorecards (one dense layer with one output, e.g. logistic regression); ${first.name} is a ${first.kind} layer${outs}`,
    );
  }
  for (const l of rest) {
    const ok = MONOTONE_AFTER.has(l.kind) && (l.kind !== 'leaky_relu' || (l as { alpha: bigint[] }).alpha.every((a) => a >= 0n));
    if (!ok) refuse(`monotone proofs are for linear scorecards: ${l.name} (${l.kind}) after the dense layer is not a monotone parameter-free layer`);
  }
  if (ir.head !== 'none' && ir.head !== 'sigmoid') refuse(`monotone proofs are for a single score: the model's head is ${ir.head}`);
  if (categorical) refuse(`${name} is categorical: monotonicity needs an ordered (numeric) input`, 'input');
}

/** What the property circuit binds: the model commitment, the statement hash, the parameter commitment and count. */
export interface PropertyConstants {
  modelCommitment: bigint;
  statementHash: bigint;
  paramCommitment: bigint;
  count: number;
}

/**
 * The property circuit: private inputs `params[count]` and `blinding`, public outputs the
 * model commitment and the statement hash (constants, so the proof names both); requires
 * the parameter commitment of the descriptor and the plan's check on each position. The
 * text holds positions and constants only, none of the parameter values.
 */
export function generatePropertyCircuit(plan: Omit<PropertyPlan, 'weights'>, c: PropertyConstants): string {
  const lines = [
    'pragma circom 2.1.6;',
    '',
    'include "zkinfer.circom";',
    'include "private.circom";',
    '',
    `// ${plan.statement.kind === 'unused' ? 'unused' : `monotone ${plan.statement.direction}`} in ${JSON.stringify(plan.statement.input)}: ` +
      `${plan.indices.length} first-layer weights`,
    'template ZkinferProperty() {',
    `${ind}signal output modelCommitment;`,
    `${ind}signal output statement;`,
    `${ind}signal input params[${c.count}];`,
    `${ind}signal input blinding;`,
    `${ind}modelCommitment <== ${c.modelCommitment};`,
    `${ind}statement <== ${c.statementHash};`,
    `${ind}component commit = ParamCommitment(${c.count});`,
    `${ind}commit.in <== params;`,
    `${ind}commit.blinding <== blinding;`,
    `${ind}commit.out === ${c.paramCommitment};`,
  ];
  // The words holding the claimed weights, unpacked (UnpackSigned range-checks and pins each
  // slot: the unpacking of a word is unique), then the check on each claimed slot.
  const W = plan.packing.width;
  const K = valuesPerWord(W);
  const byWord = new Map<number, number[]>();
  for (const i of plan.indices) byWord.set(Math.floor(i / K), [...(byWord.get(Math.floor(i / K)) ?? []), i % K]);
  for (const [u, slots] of byWord) {
    const inWord = Math.min(K, plan.packing.total - u * K);
    lines.push(`${ind}component w${u} = UnpackSigned(${inWord}, ${W});`, `${ind}w${u}.word <== params[${u}];`);
    for (const k of slots) {
      if (plan.check === 'zero') lines.push(`${ind}w${u}.v[${k}] === 0;`);
      else {
        lines.push(
          `${ind}component s${u}_${k} = NonNegative(${WEIGHT_BITS});`,
          `${ind}s${u}_${k}.in <== ${plan.check === 'nonnegative' ? '' : '-'}w${u}.v[${k}];`,
        );
      }
    }
  }
  lines.push('}', '', 'component main = ZkinferProperty();', '');
  return lines.join('\n');
}
