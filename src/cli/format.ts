import type { CompiledModel } from '../pipeline/index.ts';

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ')).join('\n');
}

/** The layer table, constraint totals and fidelity report printed by `zkinfer compile`. */
export function formatCompileReport(m: CompiledModel): string {
  const rows = [['layer', 'kind', 'size', 'constraints', 'formula']];
  for (const p of m.circuit.plan) rows.push([p.name, p.kind, String(p.size), String(p.constraints), p.formula]);
  const f = m.fidelity;
  const neurons = m.quantized.layers.reduce((a, l) => a + (l.kind === 'dense' ? l.outSize : 0), 0);
  const lines = [
    `model ${m.modelId.slice(0, 16)}  inputs ${m.ir.inputSize}  outputs ${m.ir.outputSize}  head ${m.ir.head}`,
    `settings: scale 2^${m.settings.scaleBits}, accumulator width ${m.settings.bits} bits (activations ${m.settings.bits - m.settings.scaleBits} bits)`,
    '',
    table(rows),
    '',
    `constraints: ${m.compiled.constraints} (circom --O2; plan ${m.circuit.constraints})` +
      (neurons ? `, ${((m.compiled.constraints - m.circuit.plan[0].constraints) / neurons).toFixed(1)} per neuron excluding input range checks` : ''),
    `circuit: ${m.compiled.dir} (${m.compiled.cached ? 'cached' : `compiled in ${(m.compiled.compileMs / 1000).toFixed(1)} s`})`,
    '',
    `fidelity vs onnxruntime on ${f.samples} ${f.inputs} input(s), ${f.space} space:`,
    `  max abs error ${f.maxAbsError.toExponential(3)}, mean ${f.meanAbsError.toExponential(3)}`,
  ];
  if (f.decisionFlips !== null) lines.push(`  decision flips ${f.decisionFlips} (${((f.flipRate ?? 0) * 100).toFixed(2)}%)`);
  if (f.outOfRange > 0) lines.push(`  ${f.outOfRange} input(s) out of range, first: ${f.firstOutOfRange}`);
  return lines.join('\n');
}
