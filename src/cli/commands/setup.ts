import type { Command } from 'commander';
import { compileModel, setupModel } from '../../pipeline/index.ts';
import { progress, modelOptionsFrom, type SettingsOptions, withPtau, withSettings } from '../options.ts';

export function setupCommand(program: Command): void {
  withPtau(
    withSettings(
      program
        .command('setup')
        .description('compile a model and run its Groth16 setup (phase 2 with a contribution and a beacon); print the key and provenance')
        .argument('<model>', 'ONNX file'),
    ),
  ).action(async (model: string, o: SettingsOptions & { ptau?: string; ptauSha256?: string }) => {
    progress(`compiling ${model} ...`);
    const m = await compileModel(model, { ...(await modelOptionsFrom(model, o)), fidelity: false });
    progress(`circuit: ${m.compiled.constraints} constraints; setting up ...`);
    const s = await setupModel(m, { ptau: o.ptau, ptauSha256: o.ptauSha256, log: progress });
    const out = { modelId: m.modelId, constraints: m.compiled.constraints, vkeyHash: s.provenance.vkeySha256, vkeyFile: s.vkeyFile, setupMs: Math.round(s.setupMs), setup: s.provenance };
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  });
}
