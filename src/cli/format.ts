import type { CompiledModel } from '../pipeline/index.ts';
import { TAIL_MARGIN } from '../fixed/input-quant.ts';

/** At most 6 significant digits. */
const num = (v: number) => String(Number(v.toPrecision(6)));

export function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ')).join('\n');
}

/** Non-linear constraints per dense neuron, not counting input range checks or commitments. */
export function constraintsPerNeuron(m: CompiledModel): number | null {
  const neurons = m.quantized.layers.reduce((a, l) => a + (l.kind === 'dense' || l.kind === 'sparse' ? l.outSize : 0), 0);
  if (!neurons) return null;
  // The model's own layers: not its input checks, nor the copies an explanation adds.
  const explain = m.circuit.plan.find((p) => p.kind === 'explain')?.constraints ?? 0;
  return (m.circuit.constraints - m.circuit.plan[0].constraints - explain) / neurons;
}

/** The layer table, constraint totals and fidelity report printed by `zkinfer compile`. */
export function formatCompileReport(m: CompiledModel): string {
  const rows = [['layer', 'kind', 'size', 'constraints', 'formula']];
  for (const p of m.circuit.plan) rows.push([p.name, p.kind, String(p.size), String(p.constraints), p.formula]);
  const commit = m.compiled.constraints - m.circuit.constraints;
  rows.push(['commitments', 'poseidon+nonce', '', String(commit), 'input commitment, nonce']);
  const perNeuron = constraintsPerNeuron(m);
  const lines = [
    `model ${m.modelId}`,
    `inputs ${m.ir.inputs.map((i) => `${i.name}[${i.size}]`).join(', ')}  outputs ${m.ir.outputSize}  head ${m.ir.head}`,
    `settings: scale 2^${m.settings.scaleBits}, accumulator width ${m.settings.bits} bits (activations ${m.settings.bits - m.settings.scaleBits} bits)`,
    ...inputQuantLines(m),
    '',
    table(rows),
    '',
    `constraints: ${m.compiled.constraints} in total (circom --O2); model ${m.circuit.constraints}` +
      (perNeuron !== null ? `, ${perNeuron.toFixed(1)} per neuron excluding input range checks${m.explain ? ' and the explanation' : ''}` : ''),
    `circuit ${m.compiled.hash.slice(0, 16)} (${m.compiled.cached ? 'cached' : `compiled in ${(m.compiled.compileMs / 1000).toFixed(1)} s`})`,
  ];
  const f = m.fidelity;
  if (f) {
    const source =
      f.inputs === 'random' ? 'synthetic random (uniform in [-1, 1]: meaningless for a model in real units; give --input or --calibration)' : f.inputs;
    lines.push('', `fidelity vs onnxruntime on ${f.samples} ${source} input(s), in ${f.space} space:`);
    for (const w of f.warnings) lines.push(`  WARNING: ${w}`);
    if (f.maxAbsError !== null) {
      lines.push(
        `  ${f.compared} compared: max abs error ${f.maxAbsError.toExponential(3)}, mean ` +
          `${f.meanAbsError!.toExponential(3)}${f.relativeError !== null ? `, relative to the largest output ${f.relativeError.toExponential(2)}` : ''}`,
      );
    }
    if (f.decisionFlips !== null && f.compared > 0) lines.push(`  decision flips ${f.decisionFlips} (${((f.flipRate ?? 0) * 100).toFixed(2)}%)`);
    if (f.outOfRange > 0) lines.push(`  ${f.outOfRange} input(s) out of range, first: ${f.firstOutOfRange}`);
    if (f.splitMargins?.length) {
      lines.push('  tree splits: an input farther than this from every threshold of its feature is split as in float (prove warns when closer):');
      for (const s of f.splitMargins.slice(0, 12))
        lines.push(`    ${s.feature}: ${s.thresholds} threshold(s), grid 2^-${s.scaleBits}, decided as in float beyond ${Number(s.margin.toPrecision(3))}`);
      if (f.splitMargins.length > 12) lines.push(`    ... and ${f.splitMargins.length - 12} more`);
    }
  }
  return lines.join('\n');
}

/** One line per feature with its own scale or width (at most 12, then a count). */
function inputQuantLines(m: CompiledModel): string[] {
  const iq = m.quantized.inputQuant;
  if (!iq) return [];
  const names = m.ir.inputs.flatMap((inp) => Array.from({ length: inp.size }, (_, k) => (inp.size === 1 ? inp.name : `${inp.name}[${k}]`)));
  const cal = new Map((m.calibration?.features ?? []).map((f) => [f.name, f]));
  const lines = names.slice(0, 12).map((n, i) => {
    const c = cal.get(n);
    const seen = c ? `observed [${num(c.observed[0])}, ${num(c.observed[1])}]${c.truncated ? ` (truncated at the ${c.truncated.side}?)` : ''}, ` : '';
    return `  ${n}: ${seen}range [${num(iq.lo[i])}, ${num(iq.hi[i])}] -> scale 2^${iq.scaleBits[i]}, ${iq.bits[i]} bits${iq.lo[i] >= 0 ? ' unsigned' : ''}`;
  });
  if (names.length > 12) lines.push(`  ... and ${names.length - 12} more`);
  const head = m.calibration
    ? `per-feature inputs (from ${m.calibration.rows} calibration rows, each range widened past the data's tails by ` +
      `${TAIL_MARGIN} x its distance from the 90th percentile, then 25% head-room in the width):`
    : 'per-feature inputs:';
  return [head, ...lines];
}
