import type { Command } from 'commander';
import { decisionLabel } from '../../bundle/descriptor.ts';
import { contributionText, fairnessLines, REASONS_NOTE } from '../../bundle/explain-text.ts';
import { parseBundle } from '../../bundle/checks.ts';
import type { Receipt } from '../../bundle/format.ts';
import { checkReceipt, verifyBundle, type VerifyResult } from '../../verifier/index.ts';
import { readJsonFile } from '../options.ts';
import { EXIT_INVALID } from './verify.ts';

export function noticeCommand(program: Command): void {
  program
    .command('notice')
    .description(
      "print an applicant's decision as a plain-text adverse-action notice: the decision, its proven principal reasons and fairness, " +
        'and how to verify it; exit 1 (no notice) when the proof is invalid or the receipt is not of this proof',
    )
    .argument('<bundle>', 'proof bundle JSON')
    .requiredOption('--receipt <file>', "the applicant's receipt (written by `zkinfer prove --receipt`, or GET /v1/proofs/{id}/receipt)")
    .option('--vkey <file>', "the model's published verification key (default: the key embedded in the bundle)")
    .action(async (bundleFile: string, o: { receipt: string; vkey?: string }) => {
      const bundle = await readJsonFile(bundleFile, 'bundle');
      const vkey = o.vkey ? await readJsonFile(o.vkey, 'vkey') : undefined;
      const r = await verifyBundle(bundle, { vkey });
      if (!r.valid) {
        process.stderr.write(`no notice: the proof is INVALID: ${r.reason}${r.field ? ` (field ${r.field})` : ''}\n`);
        process.exitCode = EXIT_INVALID;
        return;
      }
      const receipt = await readJsonFile(o.receipt, 'receipt');
      const check = await checkReceipt(parseBundle(bundle), receipt);
      if (!check.matches) {
        process.stderr.write(`no notice: the receipt does not match this proof: ${check.reason}\n`);
        process.exitCode = EXIT_INVALID;
        return;
      }
      process.stdout.write(noticeText(r, receipt as Receipt, { bundle: bundleFile, receipt: o.receipt, vkey: o.vkey }).join('\n') + '\n');
    });
}

/** The notice, from a valid verdict and a receipt that opens its input commitment. */
export function noticeText(r: VerifyResult, receipt: Receipt, files: { bundle: string; receipt: string; vkey?: string }): string[] {
  const m = r.model!;
  const out = r.outputs!;
  const decision = out.decision ? out.decision.map((d) => decisionLabel(m, d)).join('; ') : 'none (this model has no decision head)';
  const lines = ['NOTICE OF ACTION TAKEN ON YOUR APPLICATION (adverse action notice)', '', `Decision: ${decision}`];
  lines.push('', 'Principal reasons for the decision (proven):');
  if (out.reasons && out.reasons.length > 0) {
    out.reasons.forEach((x, i) => lines.push(`  ${i + 1}. ${x.feature} (${contributionText(x.contribution)})`));
    lines.push(`  What the numbers mean: ${REASONS_NOTE}.`);
  } else lines.push("  none: this model's proofs do not include reasons");
  const fairness = fairnessLines(out, m);
  lines.push('', 'Fairness (proven):');
  if (fairness.length) lines.push(...fairness.map((l) => `  ${l}`));
  else lines.push("  none: this model's proofs do not test protected features");
  lines.push(
    '',
    'Your data:',
    `  Your receipt opens the input commitment ${r.inputCommitment} of this proof: the decision was computed on the data in your`,
    '  receipt (its salt and features), which no one else was shown.',
  );
  const given = receipt.given;
  if (given && !Array.isArray(given))
    lines.push(
      `  As given: ${Object.entries(given)
        .map(([k, v]) => `${k} = ${JSON.stringify(v)}`)
        .join(', ')}`,
    );
  lines.push(
    '',
    'How to verify this notice:',
    `  model id ${r.modelId}`,
    `  verification key hash ${r.vkeyHash}` +
      (r.vkeySource === 'bundle' ? ' (the key in the bundle: compare with the hash the lender published)' : ' (the published key)'),
    `  zkinfer verify ${files.bundle} --receipt ${files.receipt}${files.vkey ? ` --vkey ${files.vkey}` : ' --vkey <the published key>'}`,
    '  or load the bundle and the receipt into the verification page (`zkinfer verify-page`, or the service\u2019s /verify).',
    `  Setup: ${r.trust.summary}`,
    `  Proof created ${r.claimedSetup.createdAt}, nonce ${r.nonce}.`,
  );
  return lines;
}
