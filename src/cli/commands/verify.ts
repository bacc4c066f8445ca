import type { Command } from 'commander';
import { isZkinferError, ZkinferError } from '../../core/errors.ts';
import { decodeOutputs } from '../../bundle/decode.ts';
import { decisionLabel, descriptorCommitment, descriptorOf } from '../../bundle/descriptor.ts';
import { fairnessLines, REASONS_NOTE, reasonsLine } from '../../bundle/explain-text.ts';
import { descriptorIn } from '../../verifier/descriptor-options.ts';
import { sha256Text } from '../../core/hash.ts';
import { checkReceipt, type ReceiptCheck, verifyBundle, verifyProperty, type VerifyResult } from '../../verifier/index.ts';
import { parseBundle } from '../../bundle/checks.ts';
import { judgeSetup, type SetupTrust } from '../../verifier/trust.ts';
import { NOT_CHECKED_LABEL, type Phase1Identity } from '../../prover/phase1.ts';
import { readJsonFile, type TrustPolicyOptions, withTrustPolicy } from '../options.ts';

/** Exit code for a well-formed proof that does not verify. */
export const EXIT_INVALID = 1;

export function verifyCommand(program: Command): void {
  const cmd = program
    .command('verify')
    .description('verify a proof bundle; exit 0 valid, 1 invalid, 2 unusable input, always with a reason')
    .argument('<bundle>', 'proof bundle JSON')
    .option('--vkey <file>', "the model's published verification key (default: the key embedded in the bundle)")
    .option('--receipt <file>', "an applicant's receipt: also check that the proof used their salt and features")
    .option(
      '--descriptor <file>',
      "the model's published descriptor (GET /v1/models/{id}, a descriptor, or a trusted bundle's model): a changed bundle.model is then named " +
        'by its field, as the REST API names it',
    )
    .option('--json', 'print the result as JSON')
    .option('--onchain', 'ask a deployed verifier (or registry) instead: needs --rpc and --address')
    .option('--rpc <url>', 'with --onchain: Ethereum JSON-RPC endpoint')
    .option('--address <addr>', "with --onchain: the model's verifier or registry address")
    .option('--audit <report.json>', 'your own `zkinfer audit --json` report of the key: phase 1 and phase 2 are then taken as that audit established them')
    .option(
      '--property <file>',
      'a property proof of the same private model (`zkinfer property prove`): shown as "proven: ..." in the verdict (repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    );
  withTrustPolicy(cmd).action(async (bundleFile: string, o: VerifyOptions) => {
    try {
      await verifyAction(bundleFile, o);
    } catch (e) {
      // With --json, a bundle that cannot be checked is still an answer on stdout.
      if (o.json && isZkinferError(e))
        process.stdout.write(JSON.stringify({ valid: false, usable: false, code: e.code, reason: e.message, field: e.field ?? null }, null, 2) + '\n');
      throw e;
    }
  });
}

interface VerifyOptions extends TrustPolicyOptions {
  audit?: string;
  descriptor?: string;
  vkey?: string;
  receipt?: string;
  json?: boolean;
  onchain?: boolean;
  rpc?: string;
  address?: string;
  property?: string[];
}

async function verifyAction(bundleFile: string, o: VerifyOptions): Promise<void> {
  const bundle = await readJsonFile(bundleFile, 'bundle');
  if (o.onchain) {
    if (!o.rpc || !o.address) throw new ZkinferError('CHAIN', '--onchain needs --rpc and --address', o.rpc ? 'address' : 'rpc');
    const { connect, verifyOnChain } = await import('../../chain/index.ts');
    const { provider } = await connect(o.rpc);
    const b = parseBundle(bundle);
    const r = await verifyOnChain(provider, o.address, b);
    const outputs = r.valid ? decodeOutputs(b.model, b.publicSignals) : null;
    const receipt = o.receipt ? await checkReceipt(b, await readJsonFile(o.receipt, 'receipt')) : undefined;
    // `valid`: the proof verifies; `accepted`: the whole answer (the exit code), which a
    // receipt over other data refuses.
    const accepted = r.valid && (!receipt || receipt.matches);
    if (o.json) process.stdout.write(JSON.stringify({ accepted, ...r, outputs, ...(receipt ? { receipt } : {}) }, null, 2) + '\n');
    else {
      const lines = [
        r.valid && receipt && !receipt.matches
          ? `INVALID for this receipt: the proof verifies on chain, but not over this applicant's data`
          : `${r.valid ? 'VALID' : 'INVALID'} on chain: ${r.reason}`,
        // The contract holds only a key: phase 1 takes the ptau file (`zkinfer audit`).
        `SETUP: phase 1 NOT ESTABLISHED (a contract holds only a key): ${NOT_CHECKED_LABEL}`,
        `${r.contract} ${o.address}${r.contract === 'registry' ? ` (verifier ${r.verifier})` : ''}`,
      ];
      if (r.attested !== undefined) lines.push(`nonce ${r.attested ? 'already attested in this registry' : 'not attested yet'}`);
      if (outputs?.decision) lines.push(`decision ${outputs.decision.map((d) => decisionLabel(b.model, d)).join('; ')}`);
      if (outputs) lines.push(...[reasonsLine(outputs) ?? [], ...fairnessLines(outputs, b.model)].flat());
      if (receipt) lines.push(`receipt ${receipt.matches ? 'MATCHES' : 'DOES NOT MATCH'}: ${receipt.reason}`);
      process.stdout.write(lines.join('\n') + '\n');
    }
    if (!accepted) process.exitCode = EXIT_INVALID;
    return;
  }
  const vkey = o.vkey ? await readJsonFile(o.vkey, 'vkey') : undefined;
  const audit = o.audit ? auditOf(await readJsonFile(o.audit, 'audit')) : undefined;
  const registered = o.descriptor ? descriptorOf(descriptorIn(await readJsonFile(o.descriptor, 'descriptor'), o.descriptor)) : undefined;
  const checked = await verifyBundle(bundle, { vkey, registered });
  const r = { ...checked, ...setupTrust(checked, audit, o) };
  const receipt = o.receipt ? await checkReceipt(parseBundle(bundle), await readJsonFile(o.receipt, 'receipt')) : undefined;
  const properties = await propertiesOf(o.property ?? [], r);
  const accepted = r.valid && (!receipt || receipt.matches) && r.trust.refusals.length === 0 && properties.every((p) => p.holds);
  if (o.json) {
    const doc = { accepted, ...r, ...(receipt ? { receipt } : {}), ...(properties.length ? { properties } : {}) };
    process.stdout.write(JSON.stringify(doc, null, 2) + '\n');
  } else process.stdout.write([...formatVerdict(r, receipt), ...properties.map((p) => p.line)].join('\n') + '\n');
  if (!accepted) process.exitCode = EXIT_INVALID;
}

/**
 * Property proofs given beside a decision: each must verify and be of the decision's model
 * (the same model commitment, public signal 0 of both) for its statement to be shown as proven.
 */
async function propertiesOf(
  files: string[],
  r: VerifyResult,
): Promise<{ file: string; holds: boolean; proven: string | null; reason: string; line: string }[]> {
  const out = [];
  for (const file of files) {
    const p = await verifyProperty(await readJsonFile(file, 'property'));
    const same = p.valid && r.valid && r.model !== null && p.modelCommitment === (await descriptorCommitment(r.model, sha256Text)).toString();
    const reason = !p.valid ? p.reason : !r.valid ? 'the decision itself does not verify' : same ? 'proof verifies' : 'it is a property of another model';
    out.push({
      file,
      holds: same,
      proven: same ? p.proven : null,
      reason,
      line: same
        ? `proven: ${p.proven} (${file}; its key ${p.vkeyHash}, embedded in it: compare with the published one)`
        : `PROPERTY NOT SHOWN (${file}): ${reason}`,
    });
  }
  return out;
}

/** The parts of an audit report (`zkinfer audit --json`) that verify relies on. */
interface AuditFacts {
  ok: boolean;
  vkeyHash: string;
  phase1: Phase1Identity;
  trust: { contributions: number | null; independent: number | null };
}

function auditOf(doc: unknown): AuditFacts {
  const a = doc as Partial<AuditFacts> | null;
  const bad = (what: string) => new ZkinferError('BUNDLE_INVALID', `--audit: ${what}; pass the JSON that \`zkinfer audit --json\` printed`, 'audit');
  if (!a || typeof a !== 'object') throw bad('not an audit report');
  if (typeof a.ok !== 'boolean' || typeof a.vkeyHash !== 'string' || !a.phase1 || typeof a.phase1 !== 'object' || !a.trust || typeof a.trust !== 'object')
    throw bad('missing ok, vkeyHash, phase1 or trust');
  return a as AuditFacts;
}

/**
 * The setup's trust for this verdict: from the verifier's own audit report of the key when
 * one is given (and is for this key), else what the key alone shows; judged by the policy.
 */
function setupTrust(r: VerifyResult, audit: AuditFacts | undefined, o: TrustPolicyOptions): { phase1: Phase1Identity; trust: SetupTrust } {
  const policy = { requireTrustedSetup: o.requireTrustedSetup, minIndependentContributions: o.minIndependentContributions };
  if (!audit) return { phase1: r.phase1, trust: judgeSetup(r.phase1, { contributions: null, independent: null }, policy) };
  if (audit.vkeyHash !== r.vkeyHash) {
    throw new ZkinferError(
      'BUNDLE_INVALID',
      `--audit is a report of the key ${audit.vkeyHash}, not of the key ${r.vkeyHash} this bundle was checked with`,
      'audit',
    );
  }
  if (!audit.ok) {
    const phase1: Phase1Identity = { ...r.phase1, label: `${r.phase1.label}; your audit of this key FAILED` };
    const trust = judgeSetup(phase1, { contributions: null, independent: null }, policy);
    return {
      phase1,
      trust: {
        ...trust,
        summary: 'SETUP: your audit of this key FAILED: it is not shown to encode the model',
        refusals: [...trust.refusals, 'your audit of this key failed'],
      },
    };
  }
  return { phase1: audit.phase1, trust: judgeSetup(audit.phase1, { contributions: audit.trust.contributions, independent: audit.trust.independent }, policy) };
}

/** What a person reads: the question asked first, then only what is proven or derived from the key; claims labelled. */
export function formatVerdict(r: VerifyResult, receipt?: ReceiptCheck): string[] {
  const lines: string[] = [];
  if (receipt) {
    const used = receipt.matches && r.valid;
    lines.push(`${used ? "APPLICANT'S DATA USED" : "APPLICANT'S DATA NOT SHOWN TO BE USED"}: ${!r.valid ? 'the proof itself is INVALID' : receipt.reason}`);
  }
  if (r.valid && r.trust.refusals.length) lines.push(`REFUSED BY THE TRUST POLICY: ${r.trust.refusals.join('; ')}`);
  // One verdict: a proof that verifies but not over this applicant's data is not VALID for them.
  if (r.valid && receipt && !receipt.matches) lines.push(`INVALID for this receipt: the proof verifies, but not over this applicant's data`);
  else if (r.valid && r.trust.refusals.length) lines.push('INVALID under the trust policy: the proof verifies, but its setup is refused');
  else lines.push(`${r.valid ? 'VALID' : 'INVALID'}: ${r.reason}${r.field ? ` (field ${r.field})` : ''}`);
  lines.push(r.trust.summary);
  lines.push(`verification key ${r.vkeyHash} (${r.vkeySource === 'bundle' ? 'embedded in the bundle: compare with the published hash' : 'supplied'})`);
  lines.push(`phase 1 (${r.phase1.checkedBy === 'file' ? 'from your audit of the ptau file' : 'from the key alone'}): ${r.phase1.label}`);
  if (!r.valid) return lines;
  if (r.trust.contributions === null) lines.push(`phase 2: not checked by verify; \`zkinfer audit\` checks the key's contribution chain against the model`);
  lines.push(`model ${r.modelId} (its descriptor hashes to public signal 0)`);
  const params = r.model?.parameters;
  if (params)
    lines.push(
      `private model: its parameters are not published; the proof shows they are the ones committed to by ${params.commitment} ` +
        `(${params.count} committed field elements; every proof under this key uses the same ones)`,
    );
  if (r.outputs) {
    if (r.outputs.inputs) lines.push(`public input ${r.outputs.inputs.join(', ')}`);
    lines.push(`outputs ${r.outputs.values.join(', ')}`);
    if (r.outputs.decision && r.model) lines.push(`decision ${r.outputs.decision.map((d) => decisionLabel(r.model!, d)).join('; ')}`);
    if (r.outputs.probability)
      lines.push(`probability ${r.outputs.probability.map((p) => p.toFixed(4)).join(', ')} (computed from the proven logits, outside the proof)`);
    const reasons = reasonsLine(r.outputs);
    if (reasons) lines.push(`${reasons} (proven: ${REASONS_NOTE})`);
    lines.push(...fairnessLines(r.outputs, r.model).map((l) => `${l} (proven)`));
  }
  if (r.inputCommitment) lines.push(`input commitment ${r.inputCommitment}`);
  lines.push(`nonce ${r.nonce}`);
  const s = r.claimedSetup;
  lines.push(`claimed by the prover, not checked: ${s.insecure ? 'development' : s.ptau.kind} ptau ${s.ptau.name}, ${s.phase2.length} phase-2 contribution(s)`);
  return lines;
}
