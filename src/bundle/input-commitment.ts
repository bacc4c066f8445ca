// Browser-safe: the verification page bundles this module (no node: imports).
import { buildPoseidon, type Poseidon } from 'circomlibjs';
import { packValues } from '../fixed/pack.ts';
import { FIELD_ORDER } from '../fixed/field.ts';

export { packValues };

let poseidon: Promise<Poseidon> | undefined;

/**
 * The input commitment, computed exactly as `InputCommitment` in circuits/commitment.circom:
 * pack the quantized features (`width` = activation bits), then
 * Poseidon(salt, e0..e14), then Poseidon(previous, next 15 elements) per further block.
 */
export async function inputCommitment(features: bigint[], salt: bigint, width: number): Promise<bigint> {
  const p = await (poseidon ??= buildPoseidon());
  const vals = packValues(features, width);
  const first = Math.min(15, vals.length);
  let h = p.F.toObject(p([salt, ...vals.slice(0, first)]));
  for (let done = first; done < vals.length; done += 15) {
    h = p.F.toObject(p([h, ...vals.slice(done, done + 15)]));
  }
  return h;
}

/**
 * A private model's parameter commitment, computed exactly as `ParamCommitment` in
 * circuits/private.circom: each parameter as the field element it stands for (v mod r),
 * Poseidon(blinding, p0..p14), then Poseidon(previous, next 15) per further block.
 */
export async function parameterCommitment(params: readonly bigint[], blinding: bigint): Promise<bigint> {
  const p = await (poseidon ??= buildPoseidon());
  const vals = params.map((v) => ((v % FIELD_ORDER) + FIELD_ORDER) % FIELD_ORDER);
  const first = Math.min(15, vals.length);
  let h = p.F.toObject(p([blinding, ...vals.slice(0, first)]));
  for (let done = first; done < vals.length; done += 15) {
    h = p.F.toObject(p([h, ...vals.slice(done, done + 15)]));
  }
  return h;
}
