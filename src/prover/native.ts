import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Groth16Proof } from 'snarkjs';
import { ZkinferError } from '../core/errors.ts';
import { PACKAGE_ROOT } from '../core/package-root.ts';

/**
 * The native Groth16 prover (native/groth16.cc, built by `npm ci` when a C++ toolchain is
 * there). It is a performance part, not a trust part: the Prover verifies each of its proofs
 * with snarkjs before returning it, and snarkjs proves whenever the addon is absent or off.
 */
export type ProverKind = 'native' | 'snarkjs';

/** An opaque handle: the proving key parsed into native memory, freed when garbage collected. */
declare const keyBrand: unique symbol;
type KeyHandle = { readonly [keyBrand]: true };

interface Addon {
  load(zkey: Uint8Array): KeyHandle;
  prove(key: KeyHandle, wtns: Uint8Array, threads?: number): Promise<{ points: string[]; publicSignals: string[] }>;
}

export const NATIVE_ADDON_PATH = path.join(PACKAGE_ROOT, 'native', 'build', 'Release', 'zkinfer_groth16.node');

let cached: { addon: Addon } | { reason: string } | undefined;

/** The addon, or why it is not there (not built, or it failed to load). Loaded once per process. */
export function nativeAddon(): { addon: Addon } | { reason: string } {
  if (cached) return cached;
  if (!existsSync(NATIVE_ADDON_PATH)) return (cached = { reason: 'the native prover is not built (npm ci builds it where a C++ toolchain is present)' });
  try {
    const addon = createRequire(import.meta.url)(NATIVE_ADDON_PATH) as Addon;
    if (typeof addon.load !== 'function' || typeof addon.prove !== 'function') throw new Error('it lacks load/prove');
    return (cached = { addon });
  } catch (e) {
    return (cached = { reason: `the native prover failed to load: ${(e as Error).message}` });
  }
}

/**
 * Which prover to use: `ZKINFER_PROVER=native|snarkjs`; by default native when the addon loads,
 * else snarkjs. An explicit `native` without the addon is an error, not a silent fallback.
 */
export function chooseProver(env: NodeJS.ProcessEnv = process.env): { kind: ProverKind; reason: string } {
  const want = env.ZKINFER_PROVER?.trim() || undefined;
  if (want !== undefined && want !== 'native' && want !== 'snarkjs')
    throw new ZkinferError('SETTINGS', `ZKINFER_PROVER must be native or snarkjs, not ${JSON.stringify(want)}`, 'ZKINFER_PROVER');
  if (want === 'snarkjs') return { kind: 'snarkjs', reason: 'ZKINFER_PROVER=snarkjs' };
  const a = nativeAddon();
  if ('reason' in a) {
    if (want === 'native') throw new ZkinferError('SETTINGS', `ZKINFER_PROVER=native, but ${a.reason}`, 'ZKINFER_PROVER');
    return { kind: 'snarkjs', reason: a.reason };
  }
  return { kind: 'native', reason: want ? 'ZKINFER_PROVER=native' : 'the native addon is built' };
}

/** One circuit's proving key held in native memory, proving off the event loop. */
export class NativeKey {
  private constructor(
    private readonly addon: Addon,
    private readonly handle: KeyHandle,
  ) {}

  /** Parses the zkey into native memory; undefined (with the reason) when the addon is absent. */
  static load(zkey: Uint8Array): NativeKey | { reason: string } {
    const a = nativeAddon();
    if ('reason' in a) return a;
    return new NativeKey(a.addon, a.addon.load(zkey));
  }

  /** A Groth16 proof in snarkjs's JSON shape, and the public signals, for a .wtns witness. */
  async prove(wtns: Uint8Array, threads?: number): Promise<{ proof: Groth16Proof; publicSignals: string[] }> {
    const { points: p, publicSignals } = await this.addon.prove(this.handle, wtns, threads);
    if (p.length !== 12) throw new Error(`the native prover returned ${p.length} coordinates, not 12`);
    const proof: Groth16Proof = {
      pi_a: [p[0], p[1], p[2]],
      pi_b: [
        [p[3], p[4]],
        [p[5], p[6]],
        [p[7], p[8]],
      ],
      pi_c: [p[9], p[10], p[11]],
      protocol: 'groth16',
      curve: 'bn128',
    };
    return { proof, publicSignals };
  }
}
