import type { Command } from 'commander';
import { checkReceipt, parseBundle, verifyBundle } from '../../verifier/index.ts';
import { readJsonFile } from '../options.ts';

/** Exit code for a well-formed proof that does not verify. */
export const EXIT_INVALID = 1;

export function verifyCommand(program: Command): void {
  program
    .command('verify')
    .description('verify a proof bundle; exit 0 valid, 1 invalid, 2 unusable input, always with a reason')
    .argument('<bundle>', 'proof bundle JSON')
    .option('--vkey <file>', "the model's published verification key (default: the key embedded in the bundle)")
    .option('--receipt <file>', "an applicant's receipt: also check that the proof used their salt and features")
    .option('--json', 'print the result as JSON')
    .action(async (bundleFile: string, o: { vkey?: string; receipt?: string; json?: boolean }) => {
      const bundle = await readJsonFile(bundleFile, 'bundle');
      const vkey = o.vkey ? await readJsonFile(o.vkey, 'vkey') : undefined;
      const r = await verifyBundle(bundle, { vkey });
      const receipt = o.receipt ? await checkReceipt(parseBundle(bundle), await readJsonFile(o.receipt, 'receipt')) : undefined;
      if (o.json) process.stdout.write(JSON.stringify({ ...r, ...(receipt ? { receipt } : {}) }, null, 2) + '\n');
      else {
        const lines = [`${r.valid ? 'VALID' : 'INVALID'}: ${r.reason}`, `model ${r.modelId}`, `verification key ${r.vkeyHash} (${r.vkeySource === 'bundle' ? 'embedded in the bundle: compare with the published hash' : 'supplied'})`];
        if (r.setup?.insecure) lines.push('setup: DEVELOPMENT (insecure powers of tau)');
        if (r.outputs) {
          if (r.outputs.inputs) lines.push(`public input ${r.outputs.inputs.join(', ')}`);
          lines.push(`outputs ${r.outputs.values.join(', ')}`);
          if (r.outputs.decision) lines.push(`decision ${r.outputs.decision.join(', ')}`);
          if (r.outputs.probability) lines.push(`probability ${r.outputs.probability.map((p) => p.toFixed(4)).join(', ')} (computed from the proven logits, outside the proof)`);
        }
        if (receipt) lines.push(`receipt ${receipt.matches ? 'MATCHES' : 'DOES NOT MATCH'}: ${receipt.reason}`);
        process.stdout.write(lines.join('\n') + '\n');
      }
      if (!r.valid || (receipt && !receipt.matches)) process.exitCode = EXIT_INVALID;
    });
}
