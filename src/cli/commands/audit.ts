import { rm } from 'node:fs/promises';
import type { Command } from 'commander';
import { ZkinferError } from '../../core/errors.ts';
import type { BundleModel, ModelDescriptor } from '../../bundle/descriptor.ts';
import { type AuditInput, type AuditReport } from '../../verifier/audit.ts';
import { auditKey } from '../../pipeline/audit-model.ts';
import { descriptorIn, type DescriptorOptions, descriptorOptions } from '../../verifier/descriptor-options.ts';
import { downloadAudit } from '../../verifier/download.ts';
import {
  blindingFrom,
  intOption,
  modelOptionsFrom,
  progress,
  readJsonFile,
  type SettingsOptions,
  type TrustPolicyOptions,
  limitsFrom,
  withSettings,
  withTrustedHashes,
  withTrustPolicy,
} from '../options.ts';
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
    lines.push(
      'phase 2 was made by the proving service alone (its contribution and beacon): whoever ran that setup could forge ' +
        'proofs; a ceremony with independent contributors removes that trust',
    );
  }
  lines.push(`audited in ${(r.auditMs / 1000).toFixed(1)} s`);
  return lines.join('\n');
}

interface AuditOptions extends SettingsOptions, TrustPolicyOptions {
  trustPtau: string[];
  independentContribution: string[];
  vkey?: string;
  zkey?: string;
  ptau?: string;
  r1cs?: string;
  bundle?: string;
  descriptor?: string;
  modelVersion?: number;
  service?: string;
  modelId?: string;
  apiKey?: string;
  tenant?: string;
  keep?: string;
  json?: boolean;
  private?: boolean;
}

const usage = (message: string, field: string) => new ZkinferError('SETTINGS', message, field);

/**
 * The compile options a descriptor fixes, with the settings flags given beside it: a flag
 * that says the same is harmless, one that disagrees is a usage error naming both (the
 * descriptor is what the service compiled; a flag cannot silently win over it).
 */
export function optionsWithFlags(d: DescriptorOptions, o: SettingsOptions, source: string): DescriptorOptions {
  const clash = (flag: string, given: unknown, field: string, theirs: unknown) =>
    usage(
      `${flag} ${String(given)} disagrees with ${source}: its ${field} is ${JSON.stringify(theirs)}. The descriptor ` +
        `fixes how the model is compiled: drop ${flag}`,
      flag.slice(2),
    );
  if (o.scale !== undefined && o.scale !== d.settings.scaleBits) throw clash('--scale', o.scale, 'settings.scaleBits', d.settings.scaleBits);
  if (o.bits !== undefined && o.bits !== d.settings.bits) throw clash('--bits', o.bits, 'settings.bits', d.settings.bits);
  if (o.publicInput && !d.publicInput) throw clash('--public-input', true, 'publicInput', false);
  if (o.visibility !== undefined && (o.visibility === 'private') !== (d.visibility === 'private'))
    throw clash('--visibility', o.visibility, 'visibility', d.visibility ?? 'public');
  if (o.labels !== undefined) {
    const given = o.labels.split(',').map((l) => l.trim());
    if (JSON.stringify(given) !== JSON.stringify(d.labels ?? null)) throw clash('--labels', o.labels, 'labels', d.labels ?? null);
  }
  if (o.calibration !== undefined || (o.inputRange ?? []).length > 0) {
    const flag = o.calibration !== undefined ? '--calibration' : '--input-range';
    throw usage(
      `${flag} cannot be used with ${source}: the descriptor's inputQuant is the input quantization the service fixed at ` +
        `upload, and the audit replays it as is. Drop ${flag}`,
      flag.slice(2),
    );
  }
  return d;
}

export function auditCommand(program: Command): void {
  const cmd = withSettings(
    program
      .command('audit')
      .description(
        "check that a published verification key encodes a published model: recompile the circuit (from the model's " +
          'published descriptor when given), check the zkey against it and the ptau, compare the key; exit 0 yes, 1 no ' +
          '(naming the broken link), 2 unusable input. One command from a service: audit --service URL --model-id ID',
      )
      .argument(
        '[model]',
        "the published ONNX file (external data files next to it); not with --service, which downloads it, except a private model's (--private)",
      )
      .option('--vkey <file>', 'the published verification key (GET /v1/models/{id}/vkey)')
      .option('--zkey <file>', 'the zkey the key was exported from (GET /v1/models/{id}/artifacts/zkey)')
      .option('--ptau <file>', 'the powers-of-tau file the zkey was made on (GET /v1/models/{id}/artifacts/ptau)')
      .option('--r1cs <file>', "the service's r1cs (GET /v1/models/{id}/artifacts/r1cs): also check it is the one compiled here")
      .option(
        '--descriptor <file>',
        'the model descriptor the service publishes: a descriptor JSON, or the model record from GET /v1/models/{id} (its ' +
          "descriptor, or --model-version's). Compiles with its settings, publicInput, inputQuant, labels and explain (no settings " +
          'flags needed) and checks it field for field',
      )
      .option('--bundle <file>', 'a proof bundle: check its model descriptor field for field; without --descriptor, also compile with it')
      .option(
        '--model-version <n>',
        'with a model record (--descriptor) or --service: the key version to audit (default: the latest ready one)',
        intOption('--model-version'),
      )
      .option('--service <url>', 'the zkinfer service: download the ONNX, key, zkey, ptau, r1cs and descriptor of --model-id, then audit them')
      .option('--model-id <id>', 'with --service: the model id')
      .option('--api-key <key>', 'with --service: an API key (a verifier key will do); default: env ZKINFER_API_KEY')
      .option('--tenant <tenant>', 'with --service: the tenant whose record to audit, when several registered the model')
      .option('--keep <dir>', 'with --service: keep the downloaded files in this folder (default: a temporary folder, removed afterwards)')
      .option('--private', "the model is private: same as --visibility private; give the model's --blinding file too")
      .option('--json', 'print the report as JSON'),
  );
  withTrustPolicy(withTrustedHashes(cmd)).action(async (model: string | undefined, o: AuditOptions) => {
    if (o.private) {
      if (o.visibility === 'public') throw usage('--private and --visibility public disagree', 'visibility');
      o.visibility = 'private';
    }
    let cleanup: string | null = null;
    try {
      let files: { model: string; vkey: string; zkey: string; ptau: string; r1cs?: string };
      let descriptorDoc: { source: string; doc: unknown } | null = null;
      if (o.service !== undefined) {
        // A private model's file is not served: its owner hands it over in confidence.
        for (const [flag, v] of [
          ['<model>', o.visibility === 'private' ? undefined : model],
          ['--vkey', o.vkey],
          ['--zkey', o.zkey],
          ['--ptau', o.ptau],
          ['--r1cs', o.r1cs],
          ['--descriptor', o.descriptor],
        ] as const) {
          if (v !== undefined) throw usage(`${flag} cannot be given with --service: the audit downloads it from the service`, flag.replace(/^--|[<>]/g, ''));
        }
        if (!o.modelId) throw usage('--service needs --model-id', 'model-id');
        const got = await downloadAudit({
          url: o.service,
          modelId: o.modelId,
          apiKey: o.apiKey ?? process.env.ZKINFER_API_KEY,
          tenant: o.tenant,
          version: o.modelVersion,
          dir: o.keep,
          ...(o.visibility === 'private' && model !== undefined ? { localModel: model } : {}),
          log: progress,
        });
        if (!o.keep) cleanup = got.dir;
        files = got;
        descriptorDoc = { source: `the service's descriptor of ${o.modelId} version ${got.version}`, doc: got.descriptor };
      } else {
        if (o.modelId !== undefined || o.apiKey !== undefined || o.tenant !== undefined || o.keep !== undefined)
          throw usage('--model-id, --api-key, --tenant and --keep go with --service', 'service');
        if (!model) throw usage('give the published ONNX file (or --service URL --model-id ID)', 'model');
        for (const [flag, v] of [
          ['--vkey', o.vkey],
          ['--zkey', o.zkey],
          ['--ptau', o.ptau],
        ] as const) {
          if (v === undefined) throw usage(`${flag} is required (or --service URL --model-id ID)`, flag.slice(2));
        }
        files = { model, vkey: o.vkey!, zkey: o.zkey!, ptau: o.ptau!, r1cs: o.r1cs };
        if (o.descriptor !== undefined) descriptorDoc = { source: o.descriptor, doc: await readJsonFile(o.descriptor, 'descriptor') };
        else if (o.modelVersion !== undefined)
          throw usage('--model-version picks a version of a model record given with --descriptor (or of --service)', 'model-version');
      }
      const vkey = await readJsonFile(files.vkey, 'vkey');
      const bundle = o.bundle ? await readJsonFile(o.bundle, 'bundle') : undefined;

      // The descriptor the service published decides how the model compiles: --descriptor
      // (or the service's), else the bundle's.
      const descriptors: NonNullable<AuditInput['descriptors']> = [];
      let primary: { source: string; descriptor: ModelDescriptor | BundleModel } | null = null;
      if (descriptorDoc) {
        const d = descriptorIn(descriptorDoc.doc, descriptorDoc.source, o.service !== undefined ? undefined : o.modelVersion);
        primary = { source: descriptorDoc.source, descriptor: d };
        descriptors.push({ from: o.service !== undefined ? "the service's" : `${descriptorDoc.source}'s`, descriptor: d });
      }
      if (bundle !== undefined) {
        const b = bundle as { model?: unknown };
        if (b === null || typeof b !== 'object' || b.model === undefined)
          throw new ZkinferError('INPUT_VALUE', `${o.bundle} has no model descriptor (field "model")`, 'bundle');
        const d = descriptorIn(b.model, `${o.bundle} (its model)`);
        primary ??= { source: `${o.bundle} (its model)`, descriptor: d };
        descriptors.push({ from: "the bundle's", descriptor: d });
      }
      let compileOptions: Omit<AuditInput, 'model' | 'vkey' | 'zkey' | 'ptau'>;
      if (primary) {
        const d = optionsWithFlags(descriptorOptions(primary.descriptor, primary.source), o, primary.source);
        // A private model compiles with the blinding given in confidence with its file (never a new one).
        const blinding = d.visibility === 'private' ? await blindingFrom({ visibility: 'private', blinding: o.blinding }, false) : undefined;
        if (d.visibility !== 'private' && o.blinding !== undefined) throw usage(`--blinding: ${primary.source} is a public model's`, 'blinding');
        compileOptions = { ...d, ...(blinding !== undefined ? { blinding } : {}), limits: limitsFrom(o) };
      } else {
        compileOptions = await modelOptionsFrom(files.model, o, false);
      }

      const report = await auditKey({
        model: files.model,
        ...compileOptions,
        vkey,
        zkey: files.zkey,
        ptau: files.ptau,
        r1cs: files.r1cs,
        descriptors,
        trustPtau: o.trustPtau,
        independentContributions: o.independentContribution,
        policy: { requireTrustedSetup: o.requireTrustedSetup, minIndependentContributions: o.minIndependentContributions },
        log: progress,
      });
      process.stdout.write((o.json ? JSON.stringify(report, null, 2) : format(report)) + '\n');
      if (!report.ok) process.exitCode = EXIT_INVALID;
    } finally {
      if (cleanup) await rm(cleanup, { recursive: true, force: true });
    }
  });
}
