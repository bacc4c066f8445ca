import type { Command } from 'commander';
import { auditKey, type AuditReport } from '../../verifier/audit.ts';
import { hashList, progress, readJsonFile, modelOptionsFrom, type SettingsOptions, type TrustPolicyOptions, withSettings, withTrustPolicy } from '../options.ts';
import { EXIT_INVALID } from './verify.ts';

function format(r: AuditReport): string {
  const lines = [
    r.ok
      ? r.trust.level === 'trusted'
        ? 'KEY ENCODES THE MODEL: every link holds'
        : `KEY ENCODES THE MODEL, ON A${r.trust.level === 'development' ? ' DEVELOPMENT' : 'N UNTRUSTED'} SETUP: every link holds`
      : r.broken === 'policy'
        ? 'SETUP REFUSED BY THE TRUST POLICY: the key encodes the model, but the setup does not meet what was required'
        : `KEY NOT SHOWN TO ENCODE THE MODEL: the ${r.broken} link broke`,
    r.trust.summary,
    ...r.links.map((l) => `  ${l.ok ? 'ok  ' : 'FAIL'} ${l.name}: ${l.detail}`),
    `model ${r.modelId}, commitment ${r.commitment}`,
    `ptau ${r.ptau.name} (${r.ptau.kind}, 2^${r.ptau.power}, sha256 ${r.ptau.sha256})`,
  ];
  lines.push(`phase 1 (from the ptau file): ${r.phase1.label}`);
  if (r.contributions.length) {
    lines.push('phase 2 contributions (compare your own published hash with these):');
    for (const c of r.contributions) {
      lines.push(`  #${c.index} ${c.name || '(unnamed)'}: ${c.hash}`);
      if (c.beacon) lines.push(`      beacon ${c.beacon.hash}, 2^${c.beacon.iterationsExp} iterations`);
    }
  }
  if (r.contributions.length && r.contributions.every((c) => c.name.startsWith('zkinfer phase 2'))) {
    lines.push("phase 2 was made by the proving service alone (its contribution and beacon): whoever ran that setup could forge proofs; a ceremony with independent contributors removes that trust");
  }
  lines.push(`audited in ${(r.auditMs / 1000).toFixed(1)} s`);
  return lines.join('\n');
}

export function auditCommand(program: Command): void {
  const cmd = withSettings(
    program
      .command('audit')
      .description("check that a published verification key encodes a published model: recompile the circuit, check the zkey against it and the ptau, compare the key; exit 0 yes, 1 no (naming the broken link), 2 unusable input")
      .argument('<model>', 'the published ONNX file (external data files next to it)')
      .requiredOption('--vkey <file>', 'the published verification key')
      .requiredOption('--zkey <file>', 'the zkey the key was exported from (GET /v1/models/{id}/artifacts/zkey)')
      .requiredOption('--ptau <file>', 'the powers-of-tau file the zkey was made on (GET /v1/models/{id}/artifacts/ptau)')
      .option('--r1cs <file>', "the service's r1cs (GET /v1/models/{id}/artifacts/r1cs): also check it is the one compiled here")
      .option('--bundle <file>', "a proof bundle: also check its model descriptor is this model's")
      .option('--trust-ptau <hash>', 'the sha256 or blake2b-512 of a ptau file you trust besides the published ceremony files (repeatable)', hashList('--trust-ptau', [32, 64]), [] as string[])
      .option('--independent-contribution <hash>', "a phase-2 contribution hash (blake2b-512, as contributors publish them) you know was not made by the model's owner, e.g. your own (repeatable)", hashList('--independent-contribution', [64]), [] as string[])
      .option('--json', 'print the report as JSON'),
  );
  withTrustPolicy(cmd).action(async (model: string, o: { vkey: string; zkey: string; ptau: string; r1cs?: string; bundle?: string; json?: boolean; trustPtau: string[]; independentContribution: string[] } & SettingsOptions & TrustPolicyOptions) => {
    const vkey = await readJsonFile(o.vkey, 'vkey');
    const bundle = o.bundle ? ((await readJsonFile(o.bundle, 'bundle')) as { model?: unknown }) : undefined;
    const report = await auditKey({
      model,
      ...(await modelOptionsFrom(model, o)),
      vkey,
      zkey: o.zkey,
      ptau: o.ptau,
      r1cs: o.r1cs,
      descriptor: bundle ? (bundle.model ?? null) : undefined,
      trustPtau: o.trustPtau,
      independentContributions: o.independentContribution,
      policy: { requireTrustedSetup: o.requireTrustedSetup, minIndependentContributions: o.minIndependentContributions },
      log: progress,
    });
    process.stdout.write((o.json ? JSON.stringify(report, null, 2) : format(report)) + '\n');
    if (!report.ok) process.exitCode = EXIT_INVALID;
  });
}
