// Browser-safe: the verification page hashes and vets keys with this same code; the
// sha256 is passed in (node:crypto in Node, crypto.subtle in the browser).
import type { VerificationKey } from 'snarkjs';
import { ZkinferError } from '../core/errors.ts';

/**
 * The exact text whose sha256 is a key's hash: its JSON with sorted keys, without the
 * derived vk_alphabeta_12, followed by the NUL separator `sha256Hex` appends to each part.
 */
export function vkeyHashText(vkey: VerificationKey): string {
  const canon = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canon)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, canon((v as Record<string, unknown>)[k])]),
          )
        : v;
  const { vk_alphabeta_12: _derived, ...rest } = vkey;
  return JSON.stringify(canon(rest)) + '\0';
}

/** BN254 base field order q: every coordinate of a usable key is below it. */
const Q = 21888242871839275222246405745257275088696311157297823662689037894645226208583n;
/** BN254 scalar field order r: the order of G1 and of G2's prime subgroup. */
const R = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;
const DECIMAL = /^(0|[1-9][0-9]{0,77})$/;

function refuse(message: string, field: string): never {
  throw new ZkinferError('VKEY_REFUSED', message, field);
}

/** A canonical base field element: a decimal string (at most 78 digits) below q. */
function coordinate(v: unknown, field: string): bigint {
  const s = typeof v === 'number' ? String(v) : v;
  if (typeof s !== 'string' || !DECIMAL.test(s)) refuse(`${field} is not a decimal field element`, field);
  const x = BigInt(s);
  if (x >= Q) refuse(`${field} is not a canonical coordinate (>= q): the same point written twice over`, field);
  return x;
}

type G1 = [bigint, bigint];
type G2 = [[bigint, bigint], [bigint, bigint]];

function g1(p: unknown, field: string): G1 {
  if (!Array.isArray(p) || p.length !== 3) refuse(`${field} must be an affine G1 point [x, y, 1]`, field);
  const [x, y, z] = p.map((c, i) => coordinate(c, `${field}[${i}]`));
  if (z !== 1n) refuse(`${field} is not in affine form (z must be 1)`, field);
  return [x, y];
}

function g2(p: unknown, field: string): G2 {
  if (!Array.isArray(p) || p.length !== 3 || !p.every((c) => Array.isArray(c) && c.length === 2))
    refuse(`${field} must be an affine G2 point [[x0, x1], [y0, y1], [1, 0]]`, field);
  const [x, y, z] = (p as unknown[][]).map((c, i) => c.map((v, j) => coordinate(v, `${field}[${i}][${j}]`)));
  if (z[0] !== 1n || z[1] !== 0n) refuse(`${field} is not in affine form (z must be [1, 0])`, field);
  return [
    [x[0], x[1]],
    [y[0], y[1]],
  ];
}

const sameG2 = (a: G2, b: G2) => a[0][0] === b[0][0] && a[0][1] === b[0][1] && a[1][0] === b[1][0] && a[1][1] === b[1][1];
const negG2 = (a: G2): G2 => [a[0], [(Q - a[1][0]) % Q, (Q - a[1][1]) % Q]];

/**
 * Structural checks of a key that cannot be fooled by how numbers are written: every
 * coordinate canonical (< q) and every point affine, so that comparing coordinates is
 * comparing points; one IC point per public signal plus one; and delta neither gamma,
 * -gamma nor the point at infinity (any of them lets anyone forge proofs). Throws
 * VKEY_REFUSED naming the field. The curve and subgroup checks are in `assertKeyOnCurve`.
 */
export function assertUsableVkey(vkey: VerificationKey): void {
  if (!vkey || typeof vkey !== 'object') refuse('the verification key must be an object', 'vkey');
  if (vkey.protocol !== 'groth16' || vkey.curve !== 'bn128') {
    throw new ZkinferError('BUNDLE_INVALID', `unsupported verification key: ${vkey.protocol}/${vkey.curve}`, 'vkey');
  }
  if (!Number.isInteger(vkey.nPublic) || vkey.nPublic < 1) refuse('vkey.nPublic must be a positive integer', 'nPublic');
  if (!Array.isArray(vkey.IC) || vkey.IC.length !== vkey.nPublic + 1) refuse(`the key must have nPublic + 1 = ${vkey.nPublic + 1} IC points`, 'IC');
  g1(vkey.vk_alpha_1, 'vk_alpha_1');
  g2(vkey.vk_beta_2, 'vk_beta_2');
  vkey.IC.forEach((p, i) => g1(p, `IC[${i}]`));
  const gamma = g2(vkey.vk_gamma_2, 'vk_gamma_2');
  const delta = g2(vkey.vk_delta_2, 'vk_delta_2');
  if (sameG2(gamma, delta)) refuse('verification key has gamma == delta (no phase-2 contribution): it would accept forged proofs', 'vk_delta_2');
  if (sameG2(negG2(gamma), delta)) refuse('verification key has delta == -gamma: it would accept forged proofs', 'vk_delta_2');
  if (delta.flat().every((c) => c === 0n)) refuse('verification key has delta at infinity: it would accept forged proofs', 'vk_delta_2');
}

/** The parts of ffjavascript's BN254 curve the key check uses. */
interface CurveGroup {
  fromObject(p: bigint[] | bigint[][]): Uint8Array;
  isValid(p: Uint8Array): boolean;
  isZero(p: Uint8Array): boolean;
  timesScalar(p: Uint8Array, s: bigint): Uint8Array;
}
export interface Bn128 {
  G1: CurveGroup;
  G2: CurveGroup;
}

/**
 * Every point of the key on the curve, the G2 points in the prime-order subgroup, and
 * none at infinity where the pairing needs a real point. `curve` is snarkjs' BN254
 * (`snarkjs.curves.getCurveFromName('bn128')`, in Node or in the browser).
 */
export function assertKeyOnCurve(vkey: VerificationKey, curve: Bn128): void {
  const onG1 = (p: string[], field: string) => {
    const pt = curve.G1.fromObject([BigInt(p[0]), BigInt(p[1]), 1n]);
    if (!curve.G1.isValid(pt)) refuse(`${field} is not a point of the curve`, field);
    return pt;
  };
  const onG2 = (p: string[][], field: string) => {
    const pt = curve.G2.fromObject(p.map((c) => c.map((v) => BigInt(v))));
    if (curve.G2.isZero(pt)) refuse(`${field} is the point at infinity`, field);
    if (!curve.G2.isValid(pt)) refuse(`${field} is not a point of the twisted curve`, field);
    if (!curve.G2.isZero(curve.G2.timesScalar(pt, R))) refuse(`${field} is not in the prime-order subgroup of G2`, field);
  };
  if (curve.G1.isZero(onG1(vkey.vk_alpha_1, 'vk_alpha_1'))) refuse('vk_alpha_1 is the point at infinity', 'vk_alpha_1');
  vkey.IC.forEach((p, i) => onG1(p, `IC[${i}]`));
  onG2(vkey.vk_beta_2, 'vk_beta_2');
  onG2(vkey.vk_gamma_2, 'vk_gamma_2');
  onG2(vkey.vk_delta_2, 'vk_delta_2');
}
