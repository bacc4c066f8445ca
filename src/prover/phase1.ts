// Browser-safe: the verification page names a key's phase 1 with this same table.
import type { VerificationKey } from 'snarkjs';

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
  alpha1: [string, string];
  beta2: [[string, string], [string, string]];
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
    name: 'zkinfer development (dev-13, zkinfer 0.1)',
    label: 'DEVELOPMENT powers of tau shipped with zkinfer: anyone holding the file\u2019s generator could forge proofs',
    alpha1: ['11809432923554370971450463828514007715149766577660741731654675138618695732498', '13837365961638983664608636597689961147850267440706128157040542065127264681123'],
    beta2: [
      ['2432570749231937601445082579699168377348669992577968261926198983846582470614', '3446163855832136023960312395218373303413958003900153652109186963582536017344'],
      ['21566809387229926879180956983779481108847084020226899467797307379121060328011', '4362197017022648803480033529526590344845871608061550227070412394856691220951'],
    ],
  },
];

/** Adds a phase 1 the table should recognise (the generated development family registers itself). */
export function registerPhase1(p: KnownPhase1): void {
  if (!KNOWN.some((k) => k.alpha1[0] === p.alpha1[0] && k.alpha1[1] === p.alpha1[1])) KNOWN.push(p);
}

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
