import type { Command } from 'commander';
import { ZkinferError } from '../../core/errors.ts';
import { compileModel, proveProperty, type PropertySpec } from '../../pipeline/index.ts';
import { verifyBundle, verifyProperty } from '../../verifier/index.ts';
import { modelOptionsFrom, progress, readJsonFile, type SettingsOptions, withPtau, withSettings, writeJsonFile, ptauOptionsFrom } from '../options.ts';

/** Exit code for a well-formed proof that does not verify (as `zkinfer verify`). */
const EXIT_INVALID = 1;

/** --unused <input> or --monotone <input>=increasing|decreasing: exactly one. */
function specFrom(o: { unused?: string; monotone?: string }): PropertySpec {
  if ((o.unused === undefined) === (o.monotone === undefined))
    throw new ZkinferError('SETTINGS', 'state one property: --unused <input> or --monotone <input>=increasing|decreasing', 'property');
  if (o.unused !== undefined) return { kind: 'unused', input: o.unused };
  const m = /^(.+)=(increasing|decreasing)$/.exec(o.monotone!);
  if (!m) throw new ZkinferError('SETTINGS', `--monotone must look like income=increasing or income=decreasing (got "${o.monotone}")`, 'monotone');
  return { kind: 'monotone', input: m[1], direction: m[2] as 'increasing' | 'decreasing' };
}

type ProveOptions = SettingsOptions & { unused?: string; monotone?: string; output: string; ptau?: string; ptauSha256?: string };

export function propertyCommand(program: Command): void {
  const property = program.command('property').description("prove and verify properties of a private model's committed parameters");
  withPtau(
    withSettings(
      property
        .command('prove')
        .description('prove that a private model satisfies a property (a named input unused, or a linear scorecard monotone in it)')
        .argument('<model>', 'ONNX file'),
    ),
  )
    .option('--unused <input>', 'prove that every first-layer weight reading this graph input is zero')
    .option('--monotone <input=direction>', 'prove a linear scorecard increasing or decreasing in this input, e.g. income=increasing')
    .requiredOption('-o, --output <file>', 'where to write the property proof')
    .action(async (model: string, o: ProveOptions) => {
      const spec = specFrom(o);
      if (o.visibility === 'public') throw new ZkinferError('SETTINGS', 'a property proof is about a private model: drop --visibility public', 'visibility');
      if (o.blinding === undefined) throw new ZkinferError('SETTINGS', "property prove needs the private model's --blinding <file>", 'blinding');
      // The model as registered: private, with the blinding it was registered with (never a new one).
      const opts = await modelOptionsFrom(model, { ...o, visibility: 'private' }, false);
      progress(`[1/2] compiling ${model} as a private model (cached after the first run) ...`);
      const m = await compileModel(model, { ...opts, fidelity: false });
      progress('[2/2] property circuit, setup and proof (cached after the first run) ...');
      const r = await proveProperty(m, spec, ptauOptionsFrom(o));
      await writeJsonFile(o.output, r.bundle);
      const t = r.timings;
      progress(`proof verified; ${r.constraints} constraints, witness ${t.witnessMs.toFixed(0)} ms, prove ${t.proveMs.toFixed(0)} ms`);
      if (r.setup.provenance.insecure) progress('WARNING: development setup: this proof is for testing only');
      const out = { property: o.output, statement: r.bundle.statement, modelCommitment: r.bundle.model.commitment, constraints: r.constraints };
      process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    });

  property
    .command('verify')
    .description('verify a property proof; exit 0 valid, 1 invalid, 2 unusable input, always with a reason')
    .argument('<property>', 'property proof JSON')
    .option('--bundle <file>', 'a decision bundle: also check that it proves a decision of the same model')
    .option('--vkey <file>', "the property's published verification key (default: the key embedded in the proof)")
    .option('--json', 'print the result as JSON')
    .action(async (file: string, o: { bundle?: string; vkey?: string; json?: boolean }) => {
      const vkey = o.vkey ? await readJsonFile(o.vkey, 'vkey') : undefined;
      const r = await verifyProperty(await readJsonFile(file, 'property'), { vkey });
      let same: { valid: boolean; reason: string } | undefined;
      if (o.bundle && r.valid) {
        const doc = await readJsonFile(o.bundle, 'bundle');
        const d = await verifyBundle(doc);
        // A valid bundle's model commitment is its public signal 0 (checked against its descriptor).
        const theirs = (doc as { model: { commitment: string } }).model.commitment;
        if (!d.valid) same = { valid: false, reason: `the decision bundle ${o.bundle} is INVALID: ${d.reason}` };
        else if (theirs !== r.modelCommitment)
          same = { valid: false, reason: `the decision bundle ${o.bundle} is of another model (commitment ${theirs}, the property's is ${r.modelCommitment})` };
        else same = { valid: true, reason: `the decision bundle ${o.bundle} verifies and proves a decision of the same model` };
      }
      const valid = r.valid && (same?.valid ?? true);
      if (o.json) process.stdout.write(JSON.stringify({ ...r, ...(same ? { bundle: same } : {}) }, null, 2) + '\n');
      else {
        const c = r.modelCommitment ?? '';
        const lines = [r.valid ? `VALID: proven: ${r.proven} by model ${c.slice(0, 16)}...` : `INVALID: ${r.reason}${r.field ? ` (field ${r.field})` : ''}`];
        if (same) lines.push(`${same.valid ? 'SAME MODEL' : 'NOT THE SAME MODEL'}: ${same.reason}`);
        if (r.valid && r.insecure) lines.push('WARNING: the prover claims a development setup: this proof is for testing only');
        lines.push(
          o.vkey
            ? `verification key: ${r.vkeyHash} (supplied)`
            : `verification key: ${r.vkeyHash} (the proof's own key: trust it as far as its setup and circuit are audited, ` +
                'or pass the published one with --vkey)',
        );
        process.stdout.write(lines.join('\n') + '\n');
      }
      if (!valid) process.exitCode = EXIT_INVALID;
    });
}
