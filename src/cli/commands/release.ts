import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { isZkinferError } from '../../core/errors.ts';
import { type ReleaseFidelity, runRelease, verifyRelease } from '../../release/index.ts';
import {
  intOption,
  modelOptionsFrom,
  progress,
  type SettingsOptions,
  type TrustPolicyOptions,
  ptauOptionsFrom,
  withPtau,
  withSettings,
  withTrustedHashes,
  withTrustPolicy,
} from '../options.ts';
import { EXIT_INVALID } from './verify.ts';

function shareOption(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError(`${name} is a share between 0 and 1`);
    return n;
  };
}

/** Exit code for a release directory or key that cannot be checked (as the CLI's other unusable input). */
const EXIT_UNUSABLE_INPUT = 2;

const pct = (v: number | null) => (v === null ? '-' : `${(v * 100).toFixed(2)}%`);

function fidelityLines(f: ReleaseFidelity): string[] {
  return [
    f.maxAbsError === null
      ? `fidelity on ${f.samples} test rows: none could be compared (all out of range)`
      : `fidelity on ${f.samples} test rows (${f.space} space): max abs error ${f.maxAbsError.toExponential(3)}, mean ` +
        `${(f.meanAbsError ?? 0).toExponential(3)}`,
    ...f.warnings.map((w) => `  WARNING: ${w}`),
    `  decision flips float vs quantized: ${f.decisionFlips ?? '-'} (${pct(f.flipRate)})${f.outOfRange ? `; ${f.outOfRange} row(s) out of range` : ''}`,
    ...(f.labelled !== null ? [`  accuracy on ${f.labelled} labelled rows: float ${pct(f.floatAccuracy)}, quantized ${pct(f.quantizedAccuracy)}`] : []),
  ];
}

interface ReleaseCliOptions extends SettingsOptions, TrustPolicyOptions {
  trustPtau: string[];
  independentContribution: string[];
  testSet: string;
  labelColumn?: string;
  signKey: string;
  outDir: string;
  zkey?: string;
  ptau?: string;
  ptauSha256?: string;
  prove: number;
  maxFlipRate?: number;
  minAccuracy?: number;
  json?: boolean;
}

export function releaseCommand(program: Command): void {
  const release = withTrustPolicy(
    withTrustedHashes(
      withPtau(
        withSettings(
          program
            .command('release')
            .description(
              'CI release of a model: fidelity gates on a test set, setup (or a ceremony key), key audit, contracts, sample ' +
                'proofs, and a signed in-toto attestation (DSSE); exit 1 when a gate fails',
            )
            .argument('<model>', 'ONNX file (external data files beside it)')
            // Commander would write "[options] [command] <model>": the release and `release verify` are two usages.
            .usage('<model> --test-set <file> --sign-key <key> -o <dir> [options]\n       zkinfer release verify <dir> --pub-key <key> [options]'),
        ),
      ),
    ),
  )
    .option('--test-set <file>', "required: CSV with a header of the model's input names (and the label column), or JSON rows")
    .option('--label-column <column>', "the test set's label column (CSV) or key (JSON rows): measure float and quantized accuracy")
    .option('--sign-key <key>', 'required: Ed25519 or ECDSA P-256 private key: a PEM file, or env:NAME for a PEM in an environment variable')
    .option('-o, --out-dir <dir>', 'required: where to write the artifacts, the proofs, release-report.json and attestation.dsse.json')
    .option('--zkey <file>', "a finished ceremony key (zkinfer ceremony finalize) instead of zkinfer's own setup; needs --ptau")
    .option('--prove <n>', 'test rows to prove (each proof verified)', intOption('--prove'), 2)
    .option(
      '--max-flip-rate <share>',
      'fail (exit 1) when more than this share of decisions differ between the float and the quantized model',
      shareOption('--max-flip-rate'),
    )
    .option(
      '--min-accuracy <share>',
      'fail (exit 1) when the quantized model is right on less than this share of labelled rows (needs --label-column)',
      shareOption('--min-accuracy'),
    )
    .option('--json', 'print the result as JSON')
    .action(async (model: string, o: ReleaseCliOptions) => {
      // Checked here, not by commander: a parent's mandatory options would bind `release verify` too.
      for (const [flag, v] of [
        ['--test-set', o.testSet],
        ['--sign-key', o.signKey],
        ['--out-dir', o.outDir],
      ] as const) {
        if (!v) throw new InvalidArgumentError(`required option ${flag} not specified`);
      }
      if (o.minAccuracy !== undefined && !o.labelColumn) throw new InvalidArgumentError('--min-accuracy needs --label-column');
      const r = await runRelease({
        model,
        testSet: o.testSet,
        labelColumn: o.labelColumn,
        signKey: o.signKey,
        outDir: o.outDir,
        compile: await modelOptionsFrom(model, o),
        zkey: o.zkey,
        ptau: o.ptau,
        ptauSha256: o.ptauSha256,
        maxPtauPower: ptauOptionsFrom(o).maxPtauPower,
        trustPtau: o.trustPtau,
        independentContributions: o.independentContribution,
        policy: { requireTrustedSetup: o.requireTrustedSetup, minIndependentContributions: o.minIndependentContributions },
        prove: o.prove,
        maxFlipRate: o.maxFlipRate,
        minAccuracy: o.minAccuracy,
        log: progress,
      }).catch((e: unknown) => {
        // A key that does not encode the model is a refused release, not unusable input.
        if (isZkinferError(e, 'CEREMONY')) {
          process.stderr.write(`RELEASE REFUSED: ${e.message}\n`);
          process.exitCode = EXIT_INVALID;
          return null;
        }
        throw e;
      });
      if (!r) return;
      if (o.json) {
        const { statement, ...rest } = r;
        process.stdout.write(JSON.stringify({ ...rest, subjects: statement?.subject ?? [] }, null, 2) + '\n');
      } else {
        const lines = [
          r.ok
            ? `RELEASED: ${r.statement!.subject.length} files signed in ${r.envelopeFile}`
            : 'RELEASE STOPPED: a fidelity gate failed (nothing proven or signed)',
          ...fidelityLines(r.fidelity),
          ...r.gates.map((g) => `  ${g.ok ? 'ok  ' : 'FAIL'} ${g.name} ${g.threshold}: measured ${g.value === null ? 'n/a' : g.value.toFixed(4)}`),
          `report ${r.reportFile}`,
        ];
        if (r.statement) {
          const s = r.statement.predicate.setup;
          lines.splice(1, 0, s.trust.summary);
          lines.push(
            `key ${r.statement.predicate.vkeySha256} (${s.source}, ptau ` +
              `${s.ptau.name}${s.insecure ? ', DEVELOPMENT: insecure' : ''}), ${s.phase2.length} phase-2 contribution(s), audit ok`,
          );
          lines.push(...r.statement.predicate.proofs.map((p) => `proof ${p.file}: test row ${p.row}, decision ${p.decision?.join(', ') ?? '-'}, verified`));
        }
        process.stdout.write(lines.join('\n') + '\n');
      }
      if (!r.ok) process.exitCode = EXIT_INVALID;
    });

  release
    .command('verify')
    .description(
      'check a release directory: the signature, every file against its signed sha256, every sample proof; exit 0 valid, ' +
        '1 invalid (naming the file), 2 unusable input',
    )
    .argument('<dir>', 'the release directory (zkinfer release -o)')
    .requiredOption('--pub-key <key>', 'the public key: a PEM file, or env:NAME')
    .option(
      '--ptau <file>',
      "the ptau the release's zkey was made on: establishes phase 1 from the file (needed by --require-trusted-setup unless the key is a development one)",
    )
    .option('--json', 'print the result as JSON')
    .action(async (dir: string, _o: unknown, cmd: Command) => {
      // The policy flags are the parent's (`release`): commander gives them to it wherever they appear.
      const o = cmd.optsWithGlobals() as {
        pubKey: string;
        json?: boolean;
        ptau?: string;
        trustPtau: string[];
        independentContribution: string[];
      } & TrustPolicyOptions;
      const r = await verifyRelease(dir, o.pubKey, {
        policy: { requireTrustedSetup: o.requireTrustedSetup, minIndependentContributions: o.minIndependentContributions },
        ptau: o.ptau,
        trustPtau: o.trustPtau,
        independentContributions: o.independentContribution,
      });
      if (o.json) process.stdout.write(JSON.stringify({ status: r.status, reason: r.reason, subject: r.subject, checks: r.checks }, null, 2) + '\n');
      else {
        const head = r.status === 'valid' ? 'VALID' : r.status === 'invalid' ? 'INVALID' : 'UNUSABLE';
        const setup = r.checks.find((c) => c.name === 'setup');
        process.stdout.write(
          [`${head}: ${r.reason}`, ...(setup ? [setup.detail] : []), ...r.checks.map((c) => `  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`)].join('\n') +
            '\n',
        );
      }
      process.exitCode = r.status === 'valid' ? 0 : r.status === 'invalid' ? EXIT_INVALID : EXIT_UNUSABLE_INPUT;
    });
}
