// Browser-safe: the verification page bundles this module (no node: imports).
import { buildPoseidon, type Poseidon } from 'circomlibjs';

let poseidon: Promise<Poseidon> | undefined;

/**
 * Packs W-bit signed values, floor(250 / W) per field element, as the circuit does:
 * sum_j (v_j + 2^(W-1)) * 2^(W*j). Injective for in-range values.
 */
export function packValues(values: bigint[], width: number): bigint[] {
  const per = Math.floor(250 / width);
  const half = 1n << BigInt(width - 1);
  const out: bigint[] = [];
  values.forEach((v, i) => {
    if (v < -half || v >= half) throw new RangeError(`value ${v} does not fit ${width} bits`);
    const e = Math.floor(i / per);
    out[e] = (out[e] ?? 0n) + ((v + half) << BigInt(width * (i % per)));
  });
  return out;
}

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
