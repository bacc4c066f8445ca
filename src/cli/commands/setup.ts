import type { Command } from 'commander';
import { initCeremony } from '../../ceremony/index.ts';
import { compileModel, pickPtau, setupModel } from '../../pipeline/index.ts';
import { modelOptionsFrom, progress, type SettingsOptions, withPtau, withSettings, ptauOptionsFrom } from '../options.ts';

export function setupCommand(program: Command): void {
  withPtau(
    withSettings(
      program
        .command('setup')
        .description('compile a model and run its Groth16 setup (phase 2 with a contribution and a beacon); print the key and provenance')
        .argument('<model>', 'ONNX file'),
    ),
  )
    .option('--ceremony <dir>', 'instead, start a phase-2 ceremony: write the initial zkey (no contribution) and ceremony.json to this directory')
    .action(async (model: string, o: SettingsOptions & { ptau?: string; ptauSha256?: string; ceremony?: string }) => {
      progress(`compiling ${model} ...`);
      const m = await compileModel(model, { ...(await modelOptionsFrom(model, o)), fidelity: false });
      if (o.ceremony) {
        const ptau = await pickPtau(m, ptauOptionsFrom(o));
        progress(`circuit: ${m.compiled.constraints} constraints; writing the initial key for a ceremony ...`);
        const r = await initCeremony(m, ptau, o.ceremony);
        progress(
          `next: each contributor runs \`zkinfer ceremony contribute --in ${r.zkey} --out <their key> --name <their name>\` ` +
            `in turn; then \`zkinfer ceremony finalize\``,
        );
        process.stdout.write(JSON.stringify({ ...r.record, zkey: r.zkey, ceremony: r.recordFile }, null, 2) + '\n');
        return;
      }
      progress(`circuit: ${m.compiled.constraints} constraints; setting up ...`);
      const s = await setupModel(m, ptauOptionsFrom(o));
      const out = {
        modelId: m.modelId,
        constraints: m.compiled.constraints,
        vkeyHash: s.provenance.vkeySha256,
        vkeyFile: s.vkeyFile,
        setupMs: Math.round(s.setupMs),
        setup: s.provenance,
      };
      process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    });
}
