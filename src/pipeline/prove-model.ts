import { ZkinferError } from '../core/errors.ts';
import { parseInput } from '../model/index.ts';
import { Prover, type ProofTimings, randomNonce, randomSalt, toolVersions } from '../prover/index.ts';
import { inputCommitment } from '../bundle/input-commitment.ts';
import { BUNDLE_FORMAT, BUNDLE_VERSION, type ProofBundle, type Receipt, RECEIPT_FORMAT } from '../bundle/format.ts';
import { activationBits, explainReference, explainValues, explainWidth, FIELD_ORDER, runReference } from '../quant/index.ts';
import { packValues } from '../fixed/pack.ts';
import { splitWarnings } from '../quant/tree-splits.ts';
import { decodeOutputs } from '../bundle/decode.ts';
import { bundleModel, type CompiledModel } from './compile-model.ts';
import type { CircuitSetup } from '../prover/setup.ts';
import { WarmCache, warmProversBytesFromEnv } from '../prover/warm.ts';

export interface ProveOptions {
  salt?: bigint;
  nonce?: bigint;
}

export interface ProveResult {
  bundle: ProofBundle;
  /** Null when the input is public: there is no commitment to open. */
  receipt: Receipt | null;
  timings: ProofTimings;
  /**
   * Prover-side notes, not proven and not in the bundle: an input feature that lies so close
   * to a tree split that its rounding to the feature's grid may decide it otherwise than float.
   */
  warnings: string[];
}

let provers: WarmCache<Prover> | undefined;

/** This process's warm provers, bounded by ZKINFER_WARM_PROVERS_MB (read on first use). */
export function warmProvers(): WarmCache<Prover> {
  provers ??= new WarmCache<Prover>(warmProversBytesFromEnv(), (p) => p.bytes);
  return provers;
}

/** One warm prover per (circuit, setup) in this process, within the warm-prover memory budget. */
export function proverFor(m: CompiledModel, setup: CircuitSetup): Promise<Prover> {
  return warmProvers().get(`${m.compiled.hash}/${setup.provenance.zkeySha256}`, () => Prover.load(m.compiled, setup));
}

function checkFieldValue(v: bigint, field: string): bigint {
  if (v < 0n || v >= FIELD_ORDER) throw new ZkinferError('INPUT_VALUE', `${field} must be in [0, r)`, field);
  return v;
}

/**
 * Input JSON -> quantize -> integer reference (clear errors before any witness) ->
 * witness -> Groth16 -> verified proof bundle, plus the applicant's receipt.
 */
export async function proveModel(m: CompiledModel, setup: CircuitSetup, input: unknown, opts: ProveOptions = {}): Promise<ProveResult> {
  const x = parseInput(input, m.ir);
  const ref = runReference(m.quantized, x);
  const salt = checkFieldValue(opts.salt ?? randomSalt(), 'salt');
  const nonce = checkFieldValue(opts.nonce ?? randomNonce(), 'nonce');
  const commitment = m.publicInput ? null : await inputCommitment(ref.input, salt, activationBits(m.settings));
  const prover = await proverFor(m, setup);
  const secret: Record<string, bigint | bigint[]> = m.secret ? { params: m.secret.params, blinding: m.secret.blinding } : {};
  const raw = await prover.prove(m.publicInput ? { nonce, x: ref.input, ...secret } : { nonce, x: ref.input, salt, ...secret });

  // The proof's public signals must be exactly what the reference and the commitment say.
  const model = bundleModel(m);
  const w = activationBits(m.settings);
  const inputSignals = commitment === null ? packValues(ref.input, w) : [commitment];
  const explained = m.explain ? packValues(explainValues(explainReference(m.quantized, m.explain, ref.input)), explainWidth(w)) : [];
  const expected = [m.modelCommitment, ...inputSignals, ...packValues([...ref.output, ...ref.decision], w), ...explained, nonce].map(String);
  if (expected.join() !== raw.publicSignals.join()) {
    throw new Error(`circuit and reference disagree: ${raw.publicSignals.join()} vs ${expected.join()}`);
  }
  const bundle: ProofBundle = {
    format: BUNDLE_FORMAT,
    version: BUNDLE_VERSION,
    createdAt: new Date().toISOString(),
    model,
    proof: raw.proof,
    publicSignals: raw.publicSignals,
    signalNames: m.circuit.publicSignals,
    nonce: nonce.toString(),
    inputCommitment: commitment === null ? null : commitment.toString(),
    outputs: decodeOutputs(model, raw.publicSignals),
    vkeyHash: setup.provenance.vkeySha256,
    verificationKey: setup.vkey,
    setup: setup.provenance,
    tools: toolVersions(),
  };
  const given =
    input && typeof input === 'object' && !Array.isArray(input) && !('input_data' in input)
      ? (input as Receipt['given'])
      : Array.isArray(input) && input.some((v) => typeof v === 'string' || v === null)
        ? (input as Receipt['given'])
        : Array.from(x);
  const receipt: Receipt | null =
    commitment === null
      ? null
      : {
          format: RECEIPT_FORMAT,
          version: 1,
          modelId: m.modelId,
          inputCommitment: commitment.toString(),
          salt: salt.toString(),
          scaleBits: m.settings.scaleBits,
          ...(m.quantized.inputQuant ? { featureScaleBits: m.quantized.inputQuant.scaleBits } : {}),
          width: activationBits(m.settings),
          features: ref.input.map(String),
          given,
        };
  return { bundle, receipt, timings: raw.timings, warnings: splitWarnings(m.ir, m.quantized, x, ref.input) };
}
