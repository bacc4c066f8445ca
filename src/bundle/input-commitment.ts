// Browser-safe: the verification page bundles this module (no node: imports).
import { buildPoseidon, type Poseidon } from 'circomlibjs';
import { packValues } from '../fixed/pack.ts';

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
