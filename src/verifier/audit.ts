import type { ExplainOptions, ExplainSettings } from '../quant/explain.ts';
import * as snarkjs from 'snarkjs';
import type { VerificationKey } from 'snarkjs';
import type { ModelDescriptor } from '../bundle/descriptor.ts';
import { type Phase1Identity, phase1OfFile } from '../prover/phase1.ts';
import { verifyZkeyFromR1cs } from '../prover/zkey-verify.ts';
import { identifyPtau } from '../prover/ptau.ts';
import { hashFile } from '../core/hash.ts';
import { vkeyHash } from '../prover/setup.ts';
import { assertUsableVkey } from '../prover/vkey.ts';
import type { InputQuant } from '../fixed/input-quant.ts';
import type { QuantSettings } from '../fixed/settings.ts';
import type { ModelLimits } from '../model/limits.ts';
import { descriptorDifferences, differenceHint } from './descriptor-options.ts';
import { judgeSetup, type SetupTrust, type TrustPolicy } from './trust.ts';

/** One link of the chain from the published model to the published key. */
export interface AuditLink {
  name: string;
  ok: boolean;
  detail: string;
}

export interface Contribution {
  /** 1-based position in the chain, as snarkjs numbers them. */
  index: number;
  name: string;
  /** blake2b-512 contribution hash: what a contributor publishes to find itself in the chain. */
  hash: string;
  beacon?: { hash: string; iterationsExp: number };
}

export interface AuditReport {
  /** True when every link holds: the key provably encodes this model's circuit. */
  ok: boolean;
  /** The first link that broke, when one did. */
  broken: string | null;
  links: AuditLink[];
  modelId: string;
  descriptor: ModelDescriptor;
  commitment: string;
  circuitHash: string;
  r1csSha256: string;
  constraints: number;
  ptau: Awaited<ReturnType<typeof identifyPtau>>;
  /** Phase 1 as established from the ptau file's hash (never from the key's points). */
  phase1: Phase1Identity;
  /** How far the setup can be trusted, and what the policy refused (a refusal fails the audit). */
  trust: SetupTrust;
  /** Phase-2 contributions in chain order (the beacon last). */
  contributions: Contribution[];
  vkeyHash: string | null;
  auditMs: number;
}

/** The circuit compiled here from the published model: what the published key is audited against. */
export interface AuditedCircuit {
  modelId: string;
  descriptor: ModelDescriptor;
  modelCommitment: bigint;
  /** The r1cs file compiled here. */
  r1cs: string;
  constraints: number;
}

export interface AuditInput {
  model: string;
  settings?: Partial<QuantSettings>;
  publicInput?: boolean;
  calibration?: ArrayLike<number>[];
  inputRanges?: Record<string, [number, number]>;
  labels?: string[];
  /**
   * The per-feature input quantization the service fixed at upload (a descriptor's
   * `inputQuant`; null: the defaults): compiled with as is, bypassing calibration and ranges.
   */
  inputQuant?: InputQuant | null;
  /** A private model (the parameters a witness bound by a commitment) and its blinding, given in confidence with the file. */
  visibility?: 'public' | 'private';
  blinding?: bigint;
  /** Reasons and fairness as flags ask (`explain`), or as a descriptor states them (`explainSettings`, replayed as they are). */
  explain?: ExplainOptions;
  explainSettings?: ExplainSettings | null;
  /** Model limits the recompile applies (the defaults otherwise). */
  limits?: Partial<ModelLimits>;
  /** The published verification key (JSON). */
  vkey: unknown;
  /** The zkey and ptau files the key is said to come from. */
  zkey: string;
  ptau: string;
  /** Optional: an r1cs the service published, compared with the one compiled here. */
  r1cs?: string;
  /** Optional: a descriptor to compare with this model's (a bundle's `model`, or the service's). */
  descriptor?: unknown;
  /** Optional: more descriptors to compare, each named by where it came from ("the bundle's", "model.json's"). */
  descriptors?: { from: string; descriptor: unknown }[];
  /** sha256 or blake2b-512 hashes of ptau files the auditor trusts besides the published ceremony files. */
  trustPtau?: string[];
  /** Hashes of phase-2 contributions the auditor knows were made independently of the model's owner (e.g. its own). */
  independentContributions?: string[];
  policy?: TrustPolicy;
  log?: (m: string) => void;
}

/** Reads the contribution list out of snarkjs' verifier log (it prints, it does not return them). */
export function contributionsFrom(lines: string[]): Contribution[] {
  const out: Contribution[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^contribution #(\d+) ?(.*):\n([\s\S]*)$/.exec(lines[i]);
    if (!m) continue;
    const c: Contribution = { index: Number(m[1]), name: m[2], hash: m[3].replace(/[^0-9a-f]/g, '') };
    const gen = /^Beacon generator: ([0-9a-f]+)$/.exec(lines[i + 1] ?? '');
    const iter = /^Beacon iterations Exp: (\d+)$/.exec(lines[i + 2] ?? '');
    if (gen && iter) c.beacon = { hash: gen[1], iterationsExp: Number(iter[1]) };
    out.push(c);
  }
  return out.sort((a, b) => a.index - b.index);
}

/**
 * The checks of `auditKey` (src/pipeline/audit-model.ts) once the model's circuit is
 * compiled here: the descriptors, the r1cs, the zkey against that r1cs and the ptau link by
 * link (snarkjs `zKey.verifyFromR1cs`: every phase-2 contribution, the beacon, the
 * circuit's sections), and that the key exported from the zkey is the published key.
 * Reports every link and the first that broke. `t0`: when the audit started (auditMs).
 */
export async function auditCircuitKey(m: AuditedCircuit, input: AuditInput, t0 = performance.now()): Promise<AuditReport> {
  const log = input.log ?? (() => {});
  const links: AuditLink[] = [];
  const link = (name: string, ok: boolean, detail: string) => {
    links.push({ name, ok, detail });
    log(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${detail}`);
  };

  const r1csSha256 = await hashFile(m.r1cs, 'sha256');
  link('circuit', true, `model ${m.modelId}: circuit ${m.descriptor.circuitHash}, r1cs sha256 ${r1csSha256}, ${m.constraints} constraints`);

  const given = [...(input.descriptor !== undefined ? [{ from: 'the given', descriptor: input.descriptor }] : []), ...(input.descriptors ?? [])];
  for (const g of given) {
    // The whole descriptor, every field: what a verifier decodes a proof with.
    const diffs = descriptorDifferences(m.descriptor, g.descriptor);
    // A commitment beside it (a bundle's model, a model record's descriptor) must be this model's too.
    const theirs = (g.descriptor as { commitment?: unknown } | null)?.commitment;
    const commitmentOk = theirs === undefined || theirs === m.modelCommitment.toString();
    link(
      'descriptor',
      diffs.length === 0 && commitmentOk,
      diffs.length > 0
        ? `${g.from} descriptor differs from this model\u2019s at ${diffs.slice(0, 6).join(', ')}${diffs.length > 6 ? ', ...' : ''}${differenceHint(diffs)}`
        : commitmentOk
          ? `${g.from} descriptor is this model\u2019s, field for field`
          : `${g.from} descriptor is this model\u2019s but its commitment (${String(theirs)}) is not (${m.modelCommitment})`,
    );
  }
  if (input.r1cs) {
    const theirs = await hashFile(input.r1cs, 'sha256');
    link(
      'r1cs',
      theirs === r1csSha256,
      theirs === r1csSha256 ? 'the published r1cs is the one compiled here' : `the published r1cs (${theirs}) is not the one compiled here (${r1csSha256})`,
    );
  }

  const ptau = await identifyPtau(input.ptau);
  const infos: string[] = [];
  const errors: string[] = [];
  const logger = {
    info: (...a: unknown[]) => infos.push(a.map(String).join(' ')),
    debug: () => {},
    warn: (...a: unknown[]) => errors.push(a.map(String).join(' ')),
    error: (...a: unknown[]) => errors.push(a.map(String).join(' ')),
  };
  log(`checking the zkey against the circuit and ${ptau.name} (2^${ptau.power}) ...`);
  let zkeyOk = false;
  try {
    zkeyOk = await verifyZkeyFromR1cs(m.r1cs, input.ptau, input.zkey, logger);
  } catch (e) {
    errors.push((e as Error).message);
  }
  const contributions = zkeyOk ? contributionsFrom(infos) : [];
  link(
    'zkey',
    zkeyOk,
    zkeyOk
      ? `the zkey is this circuit's, made on this ptau, through ${contributions.length} verified phase-2 contribution(s)`
      : `the zkey was not made from this circuit and this ptau${errors.length ? ` (${errors.join('; ').replace(/\s+/g, ' ').trim()})` : ''}`,
  );

  // Phase 1 is the ptau file's identity, by its hash: the key's alpha/beta are public points anyone can copy.
  const phase1 = phase1OfFile(ptau, { trustedHashes: input.trustPtau });
  link(
    'phase1',
    phase1.kind !== 'unrecognised',
    phase1.kind === 'unrecognised'
      ? `${phase1.label}; pass --trust-ptau <its hash> only if you know how it was made`
      : `${phase1.label}${zkeyOk ? '' : ' (but the zkey was not shown to be made on it)'}`,
  );

  let published: string | null = null;
  try {
    const key = input.vkey as VerificationKey;
    assertUsableVkey(key);
    published = vkeyHash(key);
  } catch (e) {
    link('vkey', false, `the published key is refused: ${(e as Error).message}`);
  }
  if (published !== null) {
    const exported = await snarkjs.zKey.exportVerificationKey(input.zkey).catch(() => null);
    const fromZkey = exported ? vkeyHash(exported) : null;
    link(
      'vkey',
      fromZkey === published,
      fromZkey === published
        ? `the published key (${published}) is the zkey's`
        : `the published key (${published}) is not the zkey's (${fromZkey ?? 'unreadable zkey'})`,
    );
  }
  const ordinary = contributions.filter((c) => !c.beacon);
  const known = new Set(
    (input.independentContributions ?? []).map((h) =>
      h
        .toLowerCase()
        .replace(/^0x/, '')
        .replace(/[^0-9a-f]/g, ''),
    ),
  );
  const trust = judgeSetup(
    phase1,
    {
      contributions: zkeyOk ? ordinary.length : null,
      independent: zkeyOk && known.size ? ordinary.filter((c) => known.has(c.hash)).length : zkeyOk ? 0 : null,
    },
    input.policy,
  );
  if (input.policy?.requireTrustedSetup || input.policy?.minIndependentContributions) {
    link('policy', trust.refusals.length === 0, trust.refusals.length === 0 ? 'the setup meets the trust policy' : trust.refusals.join('; '));
  }
  const broken = links.find((l) => !l.ok)?.name ?? null;
  return {
    ok: broken === null,
    broken,
    links,
    modelId: m.modelId,
    descriptor: m.descriptor,
    commitment: m.modelCommitment.toString(),
    circuitHash: m.descriptor.circuitHash,
    r1csSha256,
    constraints: m.constraints,
    ptau,
    phase1,
    trust,
    contributions,
    vkeyHash: published,
    auditMs: performance.now() - t0,
  };
}
