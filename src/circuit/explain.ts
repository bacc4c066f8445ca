import { ind, list } from '../layers/emit.ts';
import type { QuantizedModel } from '../quant/quantize.ts';
import { type ExplainSpec, topKBits } from '../quant/explain.ts';
import { activationBits } from '../fixed/settings.ts';

/**
 * The explanation part of a proof circuit (src/quant/explain.ts says what it proves):
 * the model template is instantiated once more per feature (that feature at its baseline)
 * and per protected test value, as `ZkinferCore` (the model without its input checks: a
 * copy reads the checked input, or a declared constant in range), and circuits/explain.circom
 * pins the selection and the comparisons. Its values are public signals, packed.
 */

/**
 * Emits the explanation into the proof circuit's body, after `component model` (built with
 * `exposePos`); the cores are `ZkinferCore`. Returns the signal array holding the values to pack.
 */
export function emitExplain(q: QuantizedModel, spec: ExplainSpec, decisionSize: number, lines: string[]): string {
  const n = spec.features.length;
  const k = spec.reasons;
  const multi = q.outputSize > 1;
  const w = activationBits(q.settings);
  const copy = (name: string, f: number, values: bigint[]) => {
    const feat = spec.features[f];
    const mask = Array.from({ length: q.inputSize }, (_, j) => (j >= feat.start && j < feat.start + feat.size ? 1 : 0));
    const vals = mask.map((m, j) => (m ? values[j - feat.start] : 0n));
    lines.push(
      `${ind}component ${name} = ZkinferCore();`,
      `${ind}var ${name}M[${q.inputSize}] = ${list(mask)};`,
      `${ind}var ${name}V[${q.inputSize}] = ${list(vals)};`,
      `${ind}var ${name}P[${q.inputSize}] = ${list(vals.map((v) => (v >= 0n ? 1 : 0)))};`,
      `${ind}for (var j = 0; j < ${q.inputSize}; j++) {`,
      `${ind}${ind}${name}.x[j] <== ${name}M[j] * ${name}V[j] + (1 - ${name}M[j]) * x[j];`,
      `${ind}${ind}${name}.inPos[j] <== ${name}M[j] * ${name}P[j] + (1 - ${name}M[j]) * model.xPos[j];`,
      `${ind}}`,
      ...(q.private ? [`${ind}${name}.p <== params;`] : []),
    );
  };
  const out: string[] = [];
  if (k > 0) {
    lines.push(`${ind}// reasons: each feature's contribution is the score minus the score with that feature at its baseline`);
    if (multi) {
      lines.push(
        `${ind}// the score is the decided class's output: cls is the decision's one-hot`,
        `${ind}signal cls[${q.outputSize}];`,
        `${ind}signal clsScore[${q.outputSize}];`,
        `${ind}var clsSum = 0;`,
        `${ind}var clsAt = 0;`,
        `${ind}var score = 0;`,
        `${ind}for (var j = 0; j < ${q.outputSize}; j++) {`,
        `${ind}${ind}cls[j] <-- model.decision[0] == j ? 1 : 0;`,
        `${ind}${ind}cls[j] * (cls[j] - 1) === 0;`,
        `${ind}${ind}clsSum += cls[j];`,
        `${ind}${ind}clsAt += j * cls[j];`,
        `${ind}${ind}clsScore[j] <== cls[j] * model.y[j];`,
        `${ind}${ind}score += clsScore[j];`,
        `${ind}}`,
        `${ind}clsSum === 1;`,
        `${ind}clsAt === model.decision[0];`,
      );
    } else lines.push(`${ind}var score = model.y[0];`);
    lines.push(`${ind}signal contrib[${n}];`);
    for (let f = 0; f < n; f++) {
      const name = `occ${f}`;
      copy(name, f, spec.baseline.slice(spec.features[f].start, spec.features[f].start + spec.features[f].size));
      if (multi) {
        lines.push(
          `${ind}signal ${name}S[${q.outputSize}];`,
          `${ind}var ${name}Score = 0;`,
          `${ind}for (var j = 0; j < ${q.outputSize}; j++) {`,
          `${ind}${ind}${name}S[j] <== cls[j] * ${name}.y[j];`,
          `${ind}${ind}${name}Score += ${name}S[j];`,
          `${ind}}`,
          `${ind}contrib[${f}] <== score - ${name}Score;`,
        );
      } else lines.push(`${ind}contrib[${f}] <== score - ${name}.y[0];`);
    }
    lines.push(`${ind}component reasons = TopK(${n}, ${k}, ${topKBits(n, w)});`, `${ind}reasons.c <== contrib;`);
    for (let j = 0; j < k; j++) out.push(`reasons.idx[${j}]`);
    for (let j = 0; j < k; j++) out.push(`reasons.val[${j}]`);
  }
  spec.protected.forEach((p, pi) => {
    lines.push(`${ind}// fairness: is the decision the same with ${spec.features[p.feature].name} set to each test value?`);
    p.values.forEach((v, vi) => {
      const name = `fair${pi}v${vi}`;
      copy(name, p.feature, v);
      lines.push(
        q.head === 'sigmoid' ? `${ind}component ${name}Same = SameBits(${decisionSize});` : `${ind}component ${name}Same = SameIndex(${decisionSize});`,
        `${ind}${name}Same.a <== ${name}.decision;`,
        `${ind}${name}Same.b <== model.decision;`,
      );
    });
    lines.push(
      `${ind}component fair${pi} = AllOf(${p.values.length});`,
      `${ind}fair${pi}.count <== ${p.values.map((_, vi) => `fair${pi}v${vi}Same.out`).join(' + ')};`,
    );
    out.push(`fair${pi}.out`);
  });
  lines.push(`${ind}signal explained[${out.length}];`, ...out.map((s, i) => `${ind}explained[${i}] <== ${s};`));
  return 'explained';
}
