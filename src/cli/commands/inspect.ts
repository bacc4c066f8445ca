import type { Command } from 'commander';
import { phase1Of } from '../../prover/phase1.ts';
import { parseBundle } from '../../bundle/checks.ts';
import { signalLayout } from '../../bundle/decode.ts';
import { readJsonFile } from '../options.ts';

export function inspectCommand(program: Command): void {
  program
    .command('inspect')
    .description('print what a proof bundle claims (without verifying it)')
    .argument('<bundle>', 'proof bundle JSON')
    .action(async (bundleFile: string) => {
      const b = parseBundle(await readJsonFile(bundleFile, 'bundle'));
      const L = signalLayout(b.model);
      const lines = [
        'NOT VERIFIED: what this bundle claims (`zkinfer verify` checks it)',
        `bundle v${b.version}, created ${b.createdAt}`,
        `model ${b.model.id} (head ${b.model.head}, scale 2^${b.model.settings.scaleBits}, ${b.model.settings.bits} bits)`,
        `phase 1 of the embedded key: ${phase1Of(b.verificationKey).label}`,
        `claimed setup: ${b.setup.insecure ? 'DEVELOPMENT (insecure)' : b.setup.ptau.kind} ptau ${b.setup.ptau.name}, vkey ${b.vkeyHash}`,
        'public signals:',
        ...b.publicSignals.map((s, i) => `  ${String(i).padStart(3)} ${(b.signalNames[i] ?? '?').padEnd(16)} ${s}`),
        `claimed outputs ${b.outputs.values.join(', ')}${b.outputs.decision ? `  decision ${b.outputs.decision.join(', ')}` : ''}`,
        `nonce at ${L.nonce}, tools ${Object.entries(b.tools)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}`,
      ];
      process.stdout.write(lines.join('\n') + '\n');
    });
}
