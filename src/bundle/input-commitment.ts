// Browser-safe: the verification page bundles this module (no node: imports).
import { buildPoseidon, type Poseidon } from 'circomlibjs';
import { packValues } from '../fixed/pack.ts';
import { toField } from '../fixed/field.ts';

export { packValues };

let poseidon: Promise<Poseidon> | undefined;

/** Poseidon(seed, e0..e14), then Poseidon(previous, next 15 elements) per further block: the chain of circuits/commitment.circom and private.circom. */
async function poseidonChain(seed: bigint, vals: readonly bigint[]): Promise<bigint> {
  const p = await (poseidon ??= buildPoseidon());
  const first = Math.min(15, vals.length);
  let h = p.F.toObject(p([seed, ...vals.slice(0, first)]));
  for (let done = first; done < vals.length; done += 15) {
    h = p.F.toObject(p([h, ...vals.slice(done, done + 15)]));
  }
  return h;
}

/**
 * The input commitment, computed exactly as `InputCommitment` in circuits/commitment.circom:
 * the quantized features packed (`width` = activation bits), chained from the salt.
 */
export function inputCommitment(features: bigint[], salt: bigint, width: number): Promise<bigint> {
  return poseidonChain(salt, packValues(features, width));
}

/**
 * A private model's parameter commitment, computed exactly as `ParamCommitment` in
 * circuits/private.circom: each parameter as the field element it stands for (v mod r),
 * chained from the blinding value.
 */
export function parameterCommitment(params: readonly bigint[], blinding: bigint): Promise<bigint> {
  return poseidonChain(blinding, params.map(toField));
}
