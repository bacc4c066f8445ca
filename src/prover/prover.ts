import { readFile } from 'node:fs/promises';
import * as snarkjs from 'snarkjs';
import type { Groth16Proof } from 'snarkjs';
import { loadWitnessCalculator, type CompiledCircuit, type LoadedWitnessCalculator } from '../circuit/index.ts';
import { ZkinferError } from '../core/errors.ts';
import type { CircuitSetup } from './setup.ts';
import { sha256Bytes } from '../core/hash.ts';
import { chooseProver, NativeKey, type ProverKind } from './native.ts';

export interface ProofTimings {
  witnessMs: number;
  proveMs: number;
  verifyMs: number;
}

export interface RawProof {
  proof: Groth16Proof;
  publicSignals: string[];
  timings: ProofTimings;
  /** Which Groth16 prover made the proof (snarkjs verified it either way). */
  prover: ProverKind;
}

export interface ProverOptions {
  /** native (the addon, when built) or snarkjs; default: ZKINFER_PROVER, else native when the addon loads. */
  prover?: ProverKind;
}

/**
 * A long-lived prover for one circuit: the zkey and the witness generator are read,
 * hash-checked and loaded once, then serve any number of proofs.
 */
export class Prover {
  private constructor(
    private readonly zkey: Uint8Array,
    private readonly calc: LoadedWitnessCalculator,
    readonly setup: CircuitSetup,
    private readonly native: NativeKey | undefined,
    private readonly wasmBytes: number,
  ) {}

  /** The prover this instance uses: native when its key loaded into the addon, else snarkjs. */
  get kind(): ProverKind {
    return this.native ? 'native' : 'snarkjs';
  }

  /** Loads a circuit's artifacts, refusing any whose hash differs from the setup record. */
  static async load(compiled: CompiledCircuit, setup: CircuitSetup, options: ProverOptions = {}): Promise<Prover> {
    const [zkey, wasm] = await Promise.all([readFile(setup.zkey), readFile(compiled.wasm)]);
    const check = (what: string, bytes: Uint8Array, want: string) => {
      const got = sha256Bytes(bytes);
      if (got !== want)
        throw new ZkinferError(
          'ARTIFACT_CORRUPT',
          `${what} hash mismatch (expected ${want}, found ${got}): the artifact is corrupt; delete it to rebuild`,
          what,
        );
    };
    check('zkey', zkey, setup.provenance.zkeySha256);
    check('wasm', wasm, setup.provenance.wasmSha256);
    const calc = await loadWitnessCalculator(compiled.wasm, wasm);
    const kind = options.prover ?? chooseProver().kind;
    let native: NativeKey | undefined;
    if (kind === 'native') {
      // A key the native prover cannot read (another curve, a layout it refuses) is proved by snarkjs.
      let k: NativeKey | { reason: string };
      try {
        k = NativeKey.load(zkey);
      } catch (e) {
        k = { reason: `the native prover refused the zkey: ${(e as Error).message}` };
      }
      if (k instanceof NativeKey) native = k;
      else if (options.prover === 'native') throw new Error(`the native prover was asked for, but ${k.reason}`);
    }
    return new Prover(zkey, calc, setup, native, wasm.byteLength);
  }

  /**
   * Memory this prover holds, as counted for the warm-prover budget: its proving key and
   * witness generator's bytes, and with the native prover its parsed copy of the key plus an
   * upper bound of the window tables it builds (at most 32 times the key, at most 512 MiB).
   */
  get bytes(): number {
    const key = this.zkey.byteLength;
    return key + this.wasmBytes + (this.native ? key + Math.min(512 * 2 ** 20, 32 * key) : 0);
  }

  /** Witness, Groth16 proof, and a verification of that proof before it is returned. */
  async prove(input: Record<string, bigint | bigint[]>): Promise<RawProof> {
    const t0 = performance.now();
    const wtns = await this.calc.wtns(input);
    const t1 = performance.now();
    let made: ProverKind = this.kind;
    let out: { proof: Groth16Proof; publicSignals: string[] } | undefined;
    if (this.native) {
      // A native failure (not a wrong proof: that is refused below) falls back to snarkjs.
      out = await this.native.prove(wtns).catch((e: unknown) => {
        // Said once per failure on stderr (a process warning: the worker's log collector sees it);
        // the message is the addon's, never witness data.
        process.emitWarning(`the native prover failed (${(e as Error).message}); snarkjs made this proof`, 'ZkinferNativeProverWarning');
        return undefined;
      });
      if (!out) made = 'snarkjs';
    }
    const { proof, publicSignals } = out ?? (await snarkjs.groth16.prove({ type: 'mem', data: this.zkey }, { type: 'mem', data: wtns }));
    const t2 = performance.now();
    const ok = await snarkjs.groth16.verify(this.setup.vkey, publicSignals, proof);
    const t3 = performance.now();
    if (!ok) throw new Error(`the proof just made (${made} prover) does not verify: refusing to return it`);
    return { proof, publicSignals, timings: { witnessMs: t1 - t0, proveMs: t2 - t1, verifyMs: t3 - t2 }, prover: made };
  }
}
