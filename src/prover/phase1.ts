// Browser-safe: the verification page names a key's phase 1 with this same table.
import type { VerificationKey } from 'snarkjs';
import { DEV_PTAU_VK_ALPHA_1, DEV_PTAU_VK_BETA_2, LEGACY_DEV_13_ALPHA_1, LEGACY_DEV_13_BETA_2 } from './dev-ptau-identity.ts';

/**
 * Where a key's powers of tau (phase 1) came from, recognised from the key itself:
 * `vk_alpha_1` and `vk_beta_2` are alpha*G1 and beta*G2 of the powers-of-tau file, so
 * every key made from one file carries them whatever the circuit. A bundle's own
 * `setup` block is only what its prover claims.
 *
 * Recognising phase 1 says nothing about phase 2 (the per-circuit delta): whoever made
 * the phase-2 contributions alone can still forge. `zkinfer audit` checks the zkey's
 * contribution chain against the circuit and the ptau.
 */
export interface Phase1Identity {
  kind: 'ceremony' | 'development' | 'unrecognised';
  /** Short name: the ceremony, or the development file family. */
  name: string;
  /** One sentence for a person deciding whether to trust the verdict. */
  label: string;
  /** False for development and unrecognised phase 1: do not rely on the verdict. */
  trusted: boolean;
}

interface KnownPhase1 {
  kind: 'ceremony' | 'development';
  name: string;
  label: string;
  alpha1: readonly [string, string];
  beta2: readonly [readonly [string, string], readonly [string, string]];
}

const KNOWN: KnownPhase1[] = [
  {
    kind: 'ceremony',
    name: 'Hermez/Polygon powersOfTau28_hez_final',
    label: 'public ceremony: Hermez/Polygon perpetual powers of tau (powersOfTau28_hez_final_*)',
    alpha1: ['20491192805390485299153009773594534940189261866228447918068658471970481763042', '9383485363053290200918347156157836566562967994039712273449902621266178545958'],
    beta2: [
      ['6375614351688725206403948262868962793625744043794305715222011528459656738731', '4252822878758300859123897981450591353533073413197771768651442665752259397132'],
      ['10505242626370262277552901082094356697409835680220590971873171140371331206856', '21847035105528745403288232691147584728191162732299865338377159692350059136679'],
    ],
  },
  {
    kind: 'development',
    name: 'zkinfer development (published secrets)',
    label: 'DEVELOPMENT powers of tau of zkinfer: made from published secrets, so anyone can forge proofs',
    alpha1: DEV_PTAU_VK_ALPHA_1,
    beta2: DEV_PTAU_VK_BETA_2,
  },
  {
    kind: 'development',
    name: 'zkinfer development (dev-13, zkinfer 0.1)',
    label: 'DEVELOPMENT powers of tau shipped with zkinfer: anyone holding the file\u2019s generator could forge proofs',
    alpha1: LEGACY_DEV_13_ALPHA_1,
    beta2: LEGACY_DEV_13_BETA_2,
  },
];

/** Names the phase 1 a key was made from, from its alpha and beta alone. */
export function phase1Of(vkey: Pick<VerificationKey, 'vk_alpha_1' | 'vk_beta_2'>): Phase1Identity {
  const a = vkey.vk_alpha_1?.map(String) ?? [];
  const b = vkey.vk_beta_2?.map((c) => c.map(String)) ?? [];
  for (const k of KNOWN) {
    const sameAlpha = a[0] === k.alpha1[0] && a[1] === k.alpha1[1];
    const sameBeta = b[0]?.[0] === k.beta2[0][0] && b[0]?.[1] === k.beta2[0][1] && b[1]?.[0] === k.beta2[1][0] && b[1]?.[1] === k.beta2[1][1];
    if (sameAlpha && sameBeta) return { kind: k.kind, name: k.name, label: k.label, trusted: k.kind === 'ceremony' };
  }
  return {
    kind: 'unrecognised',
    name: 'unrecognised',
    label: 'UNRECOGNISED powers of tau: not a known public ceremony nor the zkinfer development file; its maker may be able to forge proofs',
    trusted: false,
  };
}
