import type { Command } from 'commander';
import { loadModel, parseInputRows } from '../../model/index.ts';
import { compileModel } from '../../pipeline/index.ts';
import { formatCompileReport } from '../format.ts';
import { fractionOption, intOption, progress, readJsonFile, modelOptionsFrom, type SettingsOptions, withSettings, limitsFrom } from '../options.ts';

export function compileCommand(program: Command): void {
  withSettings(
    program
      .command('compile')
      .description('import an ONNX model, quantize it and compile its circuit; print the layer table, constraints and fidelity')
      .argument('<model>', 'ONNX file (external data files are read from beside it)'),
  )
    .option('--input <file>', 'inputs for the fidelity report: {"input_data": [[...], ...]} (one row each), a flat array, or named features')
    .option('--samples <n>', 'random inputs in [-1, 1] for the fidelity report when no --input is given', intOption('--samples'), 32)
    .option(
      '--max-relative-error <fraction>',
      'warn when the relative error on the outputs exceeds this fraction, and suggest settings tried to bring it under (default 0.01)',
      fractionOption('--max-relative-error'),
    )
    .option('--json', 'print the report as JSON')
    .action(async (model: string, o: SettingsOptions & { input?: string; samples: number; json?: boolean; maxRelativeError?: number }) => {
      const inputs = o.input ? parseInputRows(await readJsonFile(o.input, 'input'), (await loadModel(model, { limits: limitsFrom(o) })).ir) : undefined;
      progress(`compiling ${model} ...`);
      const m = await compileModel(model, { ...(await modelOptionsFrom(model, o)), inputs, samples: o.samples, maxRelativeError: o.maxRelativeError });
      if (!o.json) {
        process.stdout.write(formatCompileReport(m) + '\n');
        return;
      }
      const report = {
        modelId: m.modelId,
        settings: m.settings,
        layers: m.circuit.plan,
        modelConstraints: m.circuit.constraints,
        constraints: m.compiled.constraints,
        circuitHash: m.compiled.hash,
        compileMs: Math.round(m.compiled.compileMs),
        fidelity: m.fidelity,
      };
      process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    });
}
