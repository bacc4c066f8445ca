// Browser-safe: the verification page labels a key's phase 1 with this same code.
import type { VerificationKey } from 'snarkjs';
import { DEV_PTAU_VK_ALPHA_1, DEV_PTAU_VK_BETA_2, LEGACY_DEV_13_ALPHA_1, LEGACY_DEV_13_BETA_2 } from './dev-ptau-identity.ts';

/**
 * Which powers of tau (phase 1) a key was made from, and who established it.
 *
 * A key alone cannot show it: `vk_alpha_1` and `vk_beta_2` are public points that anyone
 * can copy into a powers of tau built on a tau of their own (every alpha*tau^i*G1 is
 * tau^i times the copied point), and whoever knows tau can forge proofs. Phase 1 is known
 * only by hashing the ptau file (blake2b-512 against the published ceremony table, or a
 * hash the auditor trusts) and checking that the zkey was made on it: `zkinfer audit`.
 * A key that carries the development points is development whatever else is true: its
 * secrets are published, so it is never trusted.
 */
export interface Phase1Identity {
  /**
   * ceremony: a published ceremony file, by its hash; auditor-trusted: a file whose hash
   * the auditor passed; operator-pinned: a file the service's operator pinned (the service's
   * word); development: zkinfer's development file (published secrets); unrecognised: a
   * file checked and not known; not-checked: only a key was seen.
   */
  kind: 'ceremony' | 'auditor-trusted' | 'operator-pinned' | 'development' | 'unrecognised' | 'not-checked';
  /** Short name: the ceremony file, the development family, or what was not checked. */
  name: string;
  /** One sentence for a person deciding whether to trust the verdict. */
  label: string;
  /** True only when a ptau file's hash was checked against a published ceremony or a hash the checker trusts. */
  trusted: boolean;
  /**
   * Who established it: 'file' (this verifier hashed the ptau and checked the zkey against
   * it), 'service' (the proving service's check of its own configured file: its word),
   * 'key' (the key alone: only "development" can be read from it).
   */
  checkedBy: 'file' | 'service' | 'key';
}

export interface KnownPoints {
  alpha1: readonly [string, string];
  beta2: readonly [readonly [string, string], readonly [string, string]];
}

const DEVELOPMENT_KEYS: (KnownPoints & { name: string })[] = [
  { name: 'zkinfer development (published secrets)', alpha1: DEV_PTAU_VK_ALPHA_1, beta2: DEV_PTAU_VK_BETA_2 },
  { name: 'zkinfer development (dev-13, zkinfer 0.1)', alpha1: LEGACY_DEV_13_ALPHA_1, beta2: LEGACY_DEV_13_BETA_2 },
];

/** alpha*G1 and beta*G2 of the public ceremony files: a key carrying them *claims* that phase 1, nothing more. */
export const CEREMONY_POINTS: KnownPoints = {
  alpha1: [
    '20491192805390485299153009773594534940189261866228447918068658471970481763042',
    '9383485363053290200918347156157836566562967994039712273449902621266178545958',
  ],
  beta2: [
    [
      '6375614351688725206403948262868962793625744043794305715222011528459656738731',
      '4252822878758300859123897981450591353533073413197771768651442665752259397132',
    ],
    [
      '10505242626370262277552901082094356697409835680220590971873171140371331206856',
      '21847035105528745403288232691147584728191162732299865338377159692350059136679',
    ],
  ],
};

export const DEVELOPMENT_LABEL = 'DEVELOPMENT powers of tau of zkinfer: made from published secrets, so anyone can forge proofs';
export const NOT_CHECKED_LABEL = 'not checked: a key cannot show which powers of tau it came from; run `zkinfer audit` with the ptau file';

function carries(vkey: Pick<VerificationKey, 'vk_alpha_1' | 'vk_beta_2'>, k: KnownPoints): boolean {
  const a = vkey.vk_alpha_1?.map(String) ?? [];
  const b = vkey.vk_beta_2?.map((c) => c.map(String)) ?? [];
  return (
    a[0] === k.alpha1[0] &&
    a[1] === k.alpha1[1] &&
    b[0]?.[0] === k.beta2[0][0] &&
    b[0]?.[1] === k.beta2[0][1] &&
    b[1]?.[0] === k.beta2[1][0] &&
    b[1]?.[1] === k.beta2[1][1]
  );
}

/**
 * What a verifier holding only a key may say of its phase 1: "development" when the key
 * carries the development points (never trusted), otherwise "not checked". A key carrying
 * a public ceremony's alpha/beta is still "not checked": the label says the points are
 * copied claims, and the name of the ceremony is not shown as if it were established.
 */
export function phase1Of(vkey: Pick<VerificationKey, 'vk_alpha_1' | 'vk_beta_2'>): Phase1Identity {
  const dev = DEVELOPMENT_KEYS.find((k) => carries(vkey, k));
  if (dev) return { kind: 'development', name: dev.name, label: DEVELOPMENT_LABEL, trusted: false, checkedBy: 'key' };
  const claims = carries(vkey, CEREMONY_POINTS);
  return {
    kind: 'not-checked',
    name: 'not checked',
    label: claims
      ? `${NOT_CHECKED_LABEL} (the key carries a public ceremony's alpha/beta points, which anyone can copy into a powers of tau of their own)`
      : NOT_CHECKED_LABEL,
    trusted: false,
    checkedBy: 'key',
  };
}

/** A ptau file as identified from its bytes (`identifyPtau` in ptau.ts, or the service's check of its file). */
export interface PtauFileIdentity {
  kind: 'ceremony' | 'development' | 'unknown' | 'operator-pinned';
  name: string;
  power: number;
  sha256: string;
  blake2b?: string;
}

/**
 * Phase 1 from a ptau file whose hashes were computed by the one judging it: a published
 * ceremony file is trusted; a file whose sha256 or blake2b-512 the auditor passed
 * (`trustedHashes`) is trusted on the auditor's word; a development file never is, whatever
 * hash is passed; anything else is unrecognised. `checkedBy` says whose check it was.
 */
export function phase1OfFile(file: PtauFileIdentity, opts: { trustedHashes?: string[]; checkedBy?: 'file' | 'service' } = {}): Phase1Identity {
  const checkedBy = opts.checkedBy ?? 'file';
  const by = checkedBy === 'service' ? " (the proving service's check of its configured file)" : '';
  if (file.kind === 'development') return { kind: 'development', name: file.name, label: DEVELOPMENT_LABEL + by, trusted: false, checkedBy };
  if (file.kind === 'ceremony') {
    return {
      kind: 'ceremony',
      name: file.name,
      label: `public ceremony file ${file.name} (recognised by its blake2b-512 hash)${by}`,
      trusted: true,
      checkedBy,
    };
  }
  const trusted = (opts.trustedHashes ?? []).map((h) => h.toLowerCase().replace(/^0x/, ''));
  if (trusted.includes(file.sha256) || (file.blake2b && trusted.includes(file.blake2b))) {
    return {
      kind: 'auditor-trusted',
      name: file.name,
      label: `powers of tau ${file.name} (sha256 ${file.sha256}), trusted by the auditor's own --trust-ptau hash`,
      trusted: true,
      checkedBy,
    };
  }
  if (file.kind === 'operator-pinned') {
    return {
      kind: 'operator-pinned',
      name: file.name,
      label:
        `powers of tau ${file.name} (sha256 ${file.sha256}) pinned by the service's operator: not a known public ceremony ` +
        `file; trust it only if you trust its maker${by}`,
      trusted: false,
      checkedBy,
    };
  }
  return {
    kind: 'unrecognised',
    name: file.name,
    label:
      `UNRECOGNISED powers of tau ${file.name} (sha256 ${file.sha256}): not a published ceremony file nor one the ` +
      `auditor trusts (--trust-ptau); its maker may know tau and forge proofs`,
    trusted: false,
    checkedBy,
  };
}
