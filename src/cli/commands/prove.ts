import type { Command } from 'commander';
import { loadModel } from '../../model/index.ts';
import { checkInput } from '../../quant/check-input.ts';
import { compileModel, inputQuantOf, proveModel, setupModel } from '../../pipeline/index.ts';
import { resolveSettings } from '../../fixed/settings.ts';
import { ZkinferError } from '../../core/errors.ts';
import {
  bigintOption,
  progress,
  readJsonFile,
  modelOptionsFrom,
  type SettingsOptions,
  withPtau,
  withSettings,
  writeJsonFile,
  ptauOptionsFrom,
} from '../options.ts';

export function proveCommand(program: Command): void {
  withPtau(
    withSettings(
      program
        .command('prove')
        .description('prove one inference: compiles and sets up on first use, verifies the proof, writes a bundle')
        .argument('<model>', 'ONNX file')
        .argument('<input>', 'input JSON: {"input_data": [[...]]}, a flat array, or named features'),
    ),
  )
    .requiredOption('-o, --output <file>', 'where to write the proof bundle')
    .option('--receipt <file>', "where to write the applicant's receipt (salt and features); default <output>.receipt.json")
    .option('--salt <n>', 'salt for the input commitment (default: random)', bigintOption('--salt'))
    .option('--nonce <n>', 'request nonce bound into the proof (default: random)', bigintOption('--nonce'))
    .action(
      async (
        model: string,
        inputFile: string,
        o: SettingsOptions & { ptau?: string; ptauSha256?: string; output: string; receipt?: string; salt?: bigint; nonce?: bigint },
      ) => {
        if (/\.onnx$/i.test(inputFile) && !/\.onnx$/i.test(model)) {
          throw new ZkinferError(
            'INPUT_VALUE',
            `${inputFile} looks like the model, in the input's place: the order is prove <model.onnx> <input.json>`,
            'input',
          );
        }
        const input = await readJsonFile(inputFile, 'input');
        const opts = await modelOptionsFrom(model, o);
        // The input is checked first (shape, values, range): a typo must not cost a compile.
        const { ir } = await loadModel(model, { limits: opts.limits });
        const settings = resolveSettings(opts.settings);
        checkInput(input, { inputs: ir.inputs, settings, inputQuant: inputQuantOf(ir, settings, opts) });
        progress(`[1/3] compiling ${model} (cached after the first run) ...`);
        const m = await compileModel(model, { ...opts, fidelity: false });
        progress(`[2/3] setup: ${m.compiled.constraints} constraints (cached after the first run) ...`);
        const setup = await setupModel(m, ptauOptionsFrom(o));
        progress('[3/3] proving ...');
        const r = await proveModel(m, setup, input, { salt: o.salt, nonce: o.nonce });
        await writeJsonFile(o.output, r.bundle);
        const receiptFile = r.receipt ? (o.receipt ?? o.output.replace(/\.json$/, '') + '.receipt.json') : null;
        // The applicant's salt and features: readable by this user only.
        if (r.receipt && receiptFile) await writeJsonFile(receiptFile, r.receipt, 0o600);
        const t = r.timings;
        progress(`proof verified; witness ${t.witnessMs.toFixed(0)} ms, prove ${t.proveMs.toFixed(0)} ms, verify ${t.verifyMs.toFixed(0)} ms`);
        if (setup.provenance.insecure) progress('WARNING: development setup: this proof is for testing only');
        for (const w of r.warnings) progress(`WARNING: ${w}`);
        const out = r.bundle.outputs;
        process.stdout.write(
          JSON.stringify(
            {
              bundle: o.output,
              receipt: receiptFile,
              modelId: m.modelId,
              outputs: out.values,
              decision: out.decision,
              probability: out.probability,
              ...(r.warnings.length ? { warnings: r.warnings } : {}),
            },
            null,
            2,
          ) + '\n',
        );
      },
    );
}
