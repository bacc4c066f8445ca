// Browser-safe: the trust policy every verifier applies (CLI verify, audit, release,
// ceremony verify, the page).
import type { Phase1Identity } from '../prover/phase1.ts';

/** What a regulator or a CI job demands of a setup before it accepts a verdict. */
export interface TrustPolicy {
  /** Refuse a development phase 1, or one not established from a trusted ptau file. */
  requireTrustedSetup?: boolean;
  /** Refuse a phase 2 with fewer ordinary contributions known to be independent of the model's owner. */
  minIndependentContributions?: number;
}

/** How far a setup can be trusted, and whether it meets a policy. */
export interface SetupTrust {
  /** trusted: phase 1 from a published or auditor-trusted ptau file; development: published secrets; untrusted: anything else. */
  level: 'trusted' | 'development' | 'untrusted';
  phase1: Phase1Identity;
  /** Ordinary phase-2 contributions (the beacon not counted); null when the chain was not checked. */
  contributions: number | null;
  /** Of those, the ones the checker knows were not made by the model's owner; null when not known. */
  independent: number | null;
  /** The first line a person reads about the setup. */
  summary: string;
  /** Why the policy refuses this setup; empty when it accepts it (or no policy was asked). */
  refusals: string[];
}

/** Judges a setup from its phase 1 (as established by the caller) and its phase-2 counts. */
export function judgeSetup(phase1: Phase1Identity, phase2: { contributions: number | null; independent: number | null }, policy: TrustPolicy = {}): SetupTrust {
  const level = phase1.kind === 'development' ? 'development' : phase1.trusted ? 'trusted' : 'untrusted';
  const p2 =
    phase2.contributions === null
      ? 'phase 2 not checked'
      : `phase 2: ${phase2.contributions} ` +
        `contribution(s)${phase2.independent === null ? '' : `, ${phase2.independent} known independent of the model's owner`}`;
  const summary =
    level === 'development'
      ? 'SETUP: DEVELOPMENT: anyone can forge proofs for this key; do not rely on its verdicts'
      : level === 'trusted'
        ? `SETUP: phase 1 TRUSTED (${phase1.name}, checked from the ptau file); ${p2}`
        : `SETUP: phase 1 NOT ESTABLISHED (${phase1.kind === 'not-checked' ? 'only the key was seen' : phase1.kind}); ${p2}`;
  const refusals: string[] = [];
  if (policy.requireTrustedSetup && level !== 'trusted') {
    refusals.push(
      level === 'development'
        ? 'the setup is a development one (--require-trusted-setup)'
        : `phase 1 is not established from a trusted ptau file: ${phase1.label} (--require-trusted-setup)`,
    );
  }
  const min = policy.minIndependentContributions ?? 0;
  if (min > 0 && (phase2.independent ?? 0) < min) {
    refusals.push(
      phase2.independent === null
        ? `no phase-2 contribution is known to be independent of the model's owner; at least ${min} required (--min-independent-contributions)`
        : `phase 2 has ${phase2.independent} contribution(s) known independent of the model's owner, fewer than ${min} (--min-independent-contributions)`,
    );
  }
  return { level, phase1, contributions: phase2.contributions, independent: phase2.independent, summary, refusals };
}
