import { readFile } from 'node:fs/promises';
import { Command, InvalidArgumentError } from 'commander';
import { isZkinferError } from '../errors.ts';
import { loadModel, parseInput } from '../model/index.ts';
import { compileModel } from '../pipeline/index.ts';
import { formatCompileReport } from './format.ts';

/** Exit codes: 0 success, 1 a negative result (e.g. an invalid proof), 2 unusable input. */
export const EXIT_USAGE = 2;

function intOption(name: string) {
  return (v: string): number => {
    if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${name} must be a whole number`);
    return Number(v);
  };
}

async function readJson(file: string): Promise<unknown> {
  const text = await readFile(file, 'utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${file} is not valid JSON: ${(e as Error).message}`);
  }
}

const program = new Command()
  .name('zkinfer')
  .description('Prove quantized neural network inferences with Circom and Groth16')
  .showHelpAfterError();

program
  .command('compile')
  .description('import an ONNX model, quantize it, compile its circuit; print the layer table, constraints and fidelity')
  .argument('<model>', 'ONNX file (external data files are read from beside it)')
  .option('--scale <n>', 'fixed-point scale bits (values are stored as round(v * 2^n))', intOption('--scale'))
  .option('--bits <n>', 'accumulator width in bits (activations get bits - scale)', intOption('--bits'))
  .option('--input <file>', 'input JSON for the fidelity report ({"input_data": [[...]]}, a flat array, or named features)')
  .option('--samples <n>', 'random inputs in [-1, 1] for the fidelity report when no --input is given', intOption('--samples'), 32)
  .option('--json', 'print the report as JSON')
  .action(async (model: string, o: { scale?: number; bits?: number; input?: string; samples: number; json?: boolean }) => {
    let inputs: Float64Array[] | undefined;
    if (o.input) inputs = [parseInput(await readJson(o.input), (await loadModel(model)).ir)];
    process.stderr.write(`compiling ${model} ...\n`);
    const m = await compileModel(model, {
      settings: { ...(o.scale !== undefined ? { scaleBits: o.scale } : {}), ...(o.bits !== undefined ? { bits: o.bits } : {}) },
      inputs,
      samples: o.samples,
    });
    if (o.json) {
      process.stdout.write(
        JSON.stringify(
          {
            modelId: m.modelId,
            settings: m.settings,
            layers: m.circuit.plan,
            constraints: m.compiled.constraints,
            circuitHash: m.compiled.hash,
            compileMs: Math.round(m.compiled.compileMs),
            fidelity: m.fidelity,
          },
          null,
          2,
        ) + '\n',
      );
    } else {
      process.stdout.write(formatCompileReport(m) + '\n');
    }
  });

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (isZkinferError(e)) {
    process.stderr.write(`error [${e.code}]${e.field ? ` (${e.field})` : ''}: ${e.message}\n`);
    process.exitCode = EXIT_USAGE;
  } else if (e instanceof Error && (e as NodeJS.ErrnoException).code === 'ENOENT') {
    process.stderr.write(`error: ${e.message}\n`);
    process.exitCode = EXIT_USAGE;
  } else {
    process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = EXIT_USAGE;
  }
}
