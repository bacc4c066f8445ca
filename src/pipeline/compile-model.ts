import {
  circuitSourceHash,
  compileCircuit,
  type CompiledCircuit,
  generateModelTemplate,
  generateProofCircuit,
  type GeneratedCircuit,
} from '../circuit/index.ts';
import { parameterCommitment } from '../bundle/input-commitment.ts';
import { FIELD_ORDER } from '../fixed/field.ts';
import { loadModel, type ModelIR, type ModelLimits, modelLimits, runOnnxRuntime } from '../model/index.ts';
import { type BundleModel, CIRCUIT_FORMAT, DESCRIPTOR_FORMAT, descriptorCommitment, type ModelDescriptor } from '../bundle/descriptor.ts';
import { sha256Text } from '../core/hash.ts';
import { ZkinferError } from '../core/errors.ts';
import { calibratedRanges, type InputQuant, inputQuantFromRanges, isDefaultInputQuant, oneHotGroups } from '../fixed/input-quant.ts';
import { PACK_BITS } from '../fixed/pack.ts';
import { activationBits } from '../fixed/settings.ts';
import {
  checkCircuitSize,
  resolveSettings,
  fidelityReport,
  type FidelityReport,
  type FidelityHints,
  type QuantizedModel,
  type QuantSettings,
  quantizeModel,
  type ExplainOptions,
  type ExplainSettings,
  type ExplainSpec,
  explainSettingsOf,
  checkExplainSettings,
  explainSpecOf,
} from '../quant/index.ts';
import { sha256Hex } from '../core/hash.ts';
import { stage } from '../core/progress.ts';
import { CLI_FIDELITY_HINTS } from '../quant/fidelity.ts';
import { type SplitMargin, splitMargins } from '../quant/tree-splits.ts';
import { type CalibrationSummary, calibrationSummary } from './calibration-summary.ts';

export interface CompileOptions {
  settings?: Partial<QuantSettings>;
  /** Inputs for the fidelity report; without them, `samples` seeded random inputs in [-1, 1]. */
  inputs?: ArrayLike<number>[];
  samples?: number;
  /** Make the quantized input public signals instead of committing to it (part of the model id). */
  publicInput?: boolean;
  /** Skip the fidelity report (the proving path does not need it). */
  fidelity?: boolean;
  /** The fidelity report warns when the relative error on the outputs exceeds this fraction (default 0.01). */
  maxRelativeError?: number;
  /** What the fidelity warnings tell the reader to do (CLI flags by default; the service names its upload fields). */
  fidelityHints?: FidelityHints;
  /**
   * Rows of real inputs (raw units) that set each feature's scale and width from its
   * observed range, with a margin; the fidelity report then runs on them too.
   */
  calibration?: ArrayLike<number>[];
  /** Declared ranges by graph input name (applied to each of its elements); they win over calibration. */
  inputRanges?: Record<string, [number, number]>;
  /**
   * The per-feature input quantization, already computed (by `inputQuantOf` at upload):
   * used as is, bypassing `calibration` and `inputRanges` (null: the model's defaults).
   * A service worker compiles with exactly what the upload fixed, without the rows.
   */
  inputQuant?: InputQuant | null;
  /** Decision names: [for 0, for 1] with a sigmoid head, one per class with softmax. */
  labels?: string[];
  /** Size limits (DEFAULT_MODEL_LIMITS otherwise): checked while loading, and maxConstraints before compiling. */
  limits?: Partial<ModelLimits>;
  /**
   * `private`: the parameters are a private witness of every proof, bound by a commitment
   * (Poseidon over them and `blinding`) in the descriptor; `public` (default): constants
   * of the circuit.
   */
  visibility?: Visibility;
  /** A private model's secret blinding value (below r); the same model with another blinding is another commitment and id. */
  blinding?: bigint;
  /** Proven reasons and fairness (src/quant/explain.ts); part of the model id. */
  explain?: ExplainOptions;
  /**
   * The explanation settings already resolved (a descriptor's `explain`, when a verifier or
   * a worker recompiles): used as they are, instead of `explain` (null: none).
   */
  explainSettings?: ExplainSettings | null;
}

export type Visibility = 'public' | 'private';

export interface CompiledModel {
  modelPath: string;
  /** sha256 of the ONNX bytes, its external data and the settings: the same upload is the same model. */
  modelId: string;
  /** Everything a verifier decodes with; its hash is the model commitment. */
  descriptor: ModelDescriptor;
  /** The model commitment public signal: top 248 bits of sha256(canonical descriptor). */
  modelCommitment: bigint;
  settings: QuantSettings;
  publicInput: boolean;
  ir: ModelIR;
  quantized: QuantizedModel;
  /** The proof circuit (model + input commitment + nonce); `plan` covers the model part. */
  circuit: GeneratedCircuit & { publicSignals: string[] };
  compiled: CompiledCircuit;
  fidelity: (FidelityReport & { inputs: 'given' | 'calibration' | 'random'; splitMargins?: SplitMargin[] }) | null;
  /** With calibration rows: each calibrated feature's observed and widened range, and warnings about truncated data. */
  calibration?: CalibrationSummary;
  /** A private model's parameter witness and blinding: the prover's secret inputs. Absent for a public model. */
  secret?: { params: bigint[]; blinding: bigint };
  /** The quantized reasons and fairness spec, when the model proves them. */
  explain?: ExplainSpec;
}

/** A model's id: known from the upload alone, before anything is compiled. */
export function modelIdOf(
  bytes: Uint8Array,
  externalBytes: Uint8Array[],
  settings: QuantSettings,
  publicInput = false,
  inputQuant: InputQuant | null = null,
  labels: string[] | null = null,
  blinding: bigint | null = null,
  explain: ExplainSettings | null = null,
): string {
  // A private model's id hashes its secret blinding too, so the id does not confirm a guessed file.
  return sha256Hex(
    bytes,
    ...externalBytes,
    JSON.stringify({
      scaleBits: settings.scaleBits,
      bits: settings.bits,
      ...(publicInput ? { publicInput } : {}),
      ...(inputQuant ? { inputQuant } : {}),
      ...(labels ? { labels } : {}),
      ...(blinding !== null ? { visibility: 'private', blinding: blinding.toString() } : {}),
      ...(explain ? { explain } : {}),
    }),
  );
}

/** Checks a private model's blinding value: an integer in [1, r). */
export function checkBlinding(b: bigint): bigint {
  if (b <= 0n || b >= FIELD_ORDER)
    throw new ZkinferError('SETTINGS', 'the blinding must be an integer from 1 to r - 1 (r the BN254 scalar field order)', 'blinding');
  return b;
}

/**
 * Checks decision labels against the model's head: two for a sigmoid head, one per class
 * for softmax. Without labels given, the class labels the ONNX model declares (an
 * ai.onnx.ml classifier's) are used.
 */
export function checkLabels(ir: Pick<ModelIR, 'head' | 'outputSize' | 'labels'>, given: string[] | undefined): string[] | null {
  const fromModel = !given || given.length === 0;
  const labels = fromModel ? ir.labels : given;
  if (!labels || labels.length === 0) return null;
  if (fromModel && labels.some((l) => !/^[\p{L}\p{N} ._-]{1,64}$/u.test(l))) {
    throw new ZkinferError(
      'SETTINGS',
      `the model's class labels (${labels
        .slice(0, 4)
        .map((l) => JSON.stringify(l.slice(0, 20)))
        .join(', ')}) are not usable as decision names (1 to 64 letters, digits, spaces, dots, dashes or underscores): give labels`,
      'labels',
    );
  }
  const want = ir.head === 'sigmoid' ? 2 : ir.head === 'softmax' || ir.head === 'argmax' ? ir.outputSize : 0;
  if (want === 0) throw new ZkinferError('SETTINGS', 'labels name decisions; this model has no sigmoid, softmax or argmax head, so no decision', 'labels');
  if (labels.length !== want)
    throw new ZkinferError(
      'SETTINGS',
      `this model needs ${want} labels (${ir.head === 'sigmoid' ? 'for decision 0, then 1' : 'one per class'}), got ${labels.length}`,
      'labels',
    );
  if (labels.some((l) => !/^[\p{L}\p{N} ._-]{1,64}$/u.test(l)))
    throw new ZkinferError('SETTINGS', 'each label must be 1 to 64 letters, digits, spaces, dots, dashes or underscores', 'labels');
  // Two decisions with one name: a verifier could not tell which one a proof shows.
  const seen = new Set<string>();
  for (const l of labels) {
    if (seen.has(l)) throw new ZkinferError('SETTINGS', `labels name "${l}" twice: each decision needs its own name`, 'labels');
    seen.add(l);
  }
  return labels;
}

/**
 * Per-feature scale and width from declared ranges and calibration rows (declared wins);
 * features with neither keep the model's scale and the full activation width. Null when
 * nothing was given.
 */
export function inputQuantOf(ir: ModelIR, st: QuantSettings, opts: Pick<CompileOptions, 'calibration' | 'inputRanges'>): InputQuant | null {
  const declared = opts.inputRanges ?? {};
  const names = new Set(ir.inputs.map((i) => i.name));
  for (const k of Object.keys(declared)) {
    if (!names.has(k)) throw new ZkinferError('SETTINGS', `--input-range names "${k}", which is not an input of this model (${[...names].join(', ')})`, k);
    if (ir.inputs.find((i) => i.name === k)?.categories)
      throw new ZkinferError('SETTINGS', `--input-range names "${k}", which has categorical columns: a category has no range`, k);
  }
  if (!opts.calibration?.length && Object.keys(declared).length === 0) return null;
  // Calibrated ranges are widened past the data's tails (TAIL_MARGIN), so the next applicant above the sample's largest still fits.
  const calibrated = opts.calibration?.length ? calibratedRanges(opts.calibration, ir.inputSize) : null;
  const observed = calibrated ? { lo: calibrated.map((c) => c.lo), hi: calibrated.map((c) => c.hi) } : null;
  const lim = 2 ** (activationBits(st) - 1) / 2 ** st.scaleBits;
  const lo: number[] = [];
  const hi: number[] = [];
  const ranged: boolean[] = [];
  for (const inp of ir.inputs) {
    for (let k = 0; k < inp.size; k++) {
      const i = inp.offset + k;
      const d = declared[inp.name];
      lo.push(d ? d[0] : observed ? observed.lo[i] : -lim);
      hi.push(d ? d[1] : observed ? observed.hi[i] : lim - 2 ** -st.scaleBits);
      ranged.push(d !== undefined || observed !== null);
    }
  }
  return inputQuantFromFeatures(ir, st, lo, hi, ranged);
}

/**
 * The per-feature quantization a model compiled with `from` would have with settings `to`:
 * the same ranges (a feature without one keeps the new default scale and width). For the
 * fidelity report's search of settings, when only the stored quantization is known.
 */
export function inputQuantAt(ir: ModelIR, iq: InputQuant | null, from: QuantSettings, to: QuantSettings): InputQuant | null {
  if (!iq) return null;
  const lim = 2 ** (activationBits(from) - 1) / 2 ** from.scaleBits;
  const ranged = iq.lo.map(
    (l, i) => !(iq.scaleBits[i] === from.scaleBits && iq.bits[i] === activationBits(from) && l === -lim && iq.hi[i] === lim - 2 ** -from.scaleBits),
  );
  const dflt = 2 ** (activationBits(to) - 1) / 2 ** to.scaleBits;
  const lo = iq.lo.map((l, i) => (ranged[i] ? l : -dflt));
  const hi = iq.hi.map((h, i) => (ranged[i] ? h : dflt - 2 ** -to.scaleBits));
  return inputQuantFromFeatures(ir, to, lo, hi, ranged);
}

/** Per-feature scale and width from per-feature ranges; a feature not `ranged` keeps the model's scale and full width. */
function inputQuantFromFeatures(ir: ModelIR, st: QuantSettings, lo: number[], hi: number[], ranged: boolean[]): InputQuant | null {
  const name = (i: number) => {
    const inp = ir.inputs.find((d) => i >= d.offset && i < d.offset + d.size)!;
    return inp.size === 1 ? inp.name : `${inp.name}[${i - inp.offset}]`;
  };
  const iq = inputQuantFromRanges(lo, hi, st, name);
  // A feature nobody gave a range for keeps exactly the default scale and width.
  for (let i = 0; i < lo.length; i++) {
    if (!ranged[i]) {
      iq.scaleBits[i] = st.scaleBits;
      iq.bits[i] = activationBits(st);
    }
  }
  // A categorical column's one-hot features are 0 or 1.0 at the model's scale, whatever the data showed.
  for (const g of oneHotGroups(ir.inputs)) {
    for (let i = g.start; i < g.start + g.size; i++) {
      iq.scaleBits[i] = st.scaleBits;
      iq.bits[i] = Math.min(activationBits(st), st.scaleBits + 2);
      lo[i] = 0;
      hi[i] = 1;
    }
  }
  iq.lo = [...lo];
  iq.hi = [...hi];
  return isDefaultInputQuant(iq, st) ? null : iq;
}

/**
 * An input as the descriptor shows it: name and flat size, and when it has them, the
 * ordered categories of its categorical columns (a category is given by name and proven
 * as its one-hot vector; an unknown one is refused) and each column's imputed value for a
 * missing entry (applied before quantization).
 */
export function describeInput(i: ModelIR['inputs'][number]): ModelDescriptor['inputs'][number] {
  return {
    name: i.name,
    size: i.size,
    ...(i.categories ? { categories: i.categories, unknownCategory: 'refused' as const } : {}),
    ...(i.missing ? { missing: i.missing } : {}),
  };
}

/** Seeded uniform inputs in [-1, 1], so a report can be reproduced. */
export function randomInputs(size: number, count: number, seed = 1): Float64Array[] {
  let s = seed >>> 0;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  return Array.from({ length: count }, () => Float64Array.from({ length: size }, () => next() * 2 - 1));
}

/** The public description of a compiled model that goes into every bundle: its descriptor and commitment. */
export function bundleModel(m: CompiledModel): BundleModel {
  return { ...m.descriptor, commitment: m.modelCommitment.toString() };
}

/** A model as loaded: its IR and the bytes its id is computed from. */
export interface LoadedModel {
  ir: ModelIR;
  bytes: Uint8Array;
  externalBytes: Uint8Array[];
}

/**
 * IR -> fixed point -> .circom -> r1cs + wasm (cached). With `floatModel`, also the
 * fidelity report against it.
 */
export async function compileLoaded(
  loaded: LoadedModel,
  opts: CompileOptions & { floatModel?: (x: ArrayLike<number>) => Promise<ArrayLike<number>>; modelPath?: string } = {},
): Promise<CompiledModel> {
  const settings: QuantSettings = resolveSettings(opts.settings);
  const inputQuant = opts.inputQuant !== undefined ? opts.inputQuant : inputQuantOf(loaded.ir, settings, opts);
  const priv = opts.visibility === 'private';
  if (opts.visibility !== undefined && opts.visibility !== 'public' && !priv)
    throw new ZkinferError('SETTINGS', `visibility must be public or private (got ${String(opts.visibility)})`, 'visibility');
  if (priv && opts.blinding === undefined) throw new ZkinferError('SETTINGS', 'a private model needs its blinding value', 'blinding');
  const blinding = priv ? checkBlinding(opts.blinding!) : null;
  if (priv && loaded.ir.inputs.some((i) => i.missing)) {
    throw new ZkinferError(
      'SETTINGS',
      'this model imputes missing values, and the imputed values would be shown in the public descriptor: a private model cannot have imputed columns yet',
      'visibility',
    );
  }
  const explainSettings =
    opts.explainSettings !== undefined
      ? opts.explainSettings && checkExplainSettings(opts.explainSettings, loaded.ir)
      : explainSettingsOf(opts.explain, loaded.ir, opts.calibration);
  // The layer plan's constraint count is known from the IR: refuse before quantizing or compiling.
  checkCircuitSize(loaded.ir, settings, modelLimits(opts.limits), inputQuant ?? undefined, { private: priv, explain: explainSettings ?? undefined });
  stage('quantize');
  const quantized = quantizeModel(loaded.ir, settings, inputQuant ?? undefined, { private: priv });
  const explain = explainSettings ? explainSpecOf(explainSettings, quantized) : undefined;
  const publicInput = opts.publicInput === true;
  const labels = checkLabels(loaded.ir, opts.labels);
  const modelId = modelIdOf(loaded.bytes, loaded.externalBytes, settings, publicInput, inputQuant, labels, blinding, explainSettings);
  // A private model's parameters (in the order its circuit reads them) and their commitment.
  const params = priv ? generateModelTemplate(quantized).params! : null;
  const paramCommitment = params ? await parameterCommitment(params, blinding!) : undefined;
  // The circuit hash covers the whole proof circuit except the commitment constant,
  // which is the hash of the descriptor holding the circuit hash.
  const unbound = generateProofCircuit(quantized, 0n, { publicInput, paramCommitment, explain });
  const w = activationBits(settings);
  const descriptor: ModelDescriptor = {
    format: DESCRIPTOR_FORMAT,
    id: modelId,
    circuitFormat: CIRCUIT_FORMAT,
    circuitHash: await circuitSourceHash(unbound.source),
    settings: { scaleBits: settings.scaleBits, bits: settings.bits },
    inputs: loaded.ir.inputs.map(describeInput),
    outputSize: loaded.ir.outputSize,
    decisionSize: unbound.decisionSize,
    head: loaded.ir.head,
    publicInput,
    packing: { width: w, perElement: Math.floor(PACK_BITS / w) },
    ...(inputQuant ? { inputQuant } : {}),
    ...(labels ? { labels } : {}),
    ...(params ? { parameters: { visibility: 'private' as const, commitment: paramCommitment!.toString(), count: params.length } } : {}),
    ...(explainSettings ? { explain: explainSettings } : {}),
  };
  // The same function every verifier recomputes it with.
  const modelCommitment = await descriptorCommitment(descriptor, sha256Text);
  const circuit = generateProofCircuit(quantized, modelCommitment, { publicInput, paramCommitment, explain });
  stage('circom');
  const compiled = await compileCircuit(circuit.source);
  let fidelity: CompiledModel['fidelity'] = null;
  if (opts.floatModel && opts.fidelity !== false) {
    stage('fidelity', `${compiled.constraints.toLocaleString('en-US')} constraints`);
    const given = opts.inputs !== undefined && opts.inputs.length > 0;
    const calibrated = !given && opts.calibration !== undefined && opts.calibration.length > 0;
    const inputs = given ? opts.inputs! : calibrated ? opts.calibration! : randomInputs(loaded.ir.inputSize, opts.samples ?? 32);
    // Other settings for the same model, ranges and limits: what a relative-error warning suggests is tried, not guessed.
    const requantize = (st: QuantSettings) => {
      const iq = opts.inputQuant !== undefined ? inputQuantAt(loaded.ir, inputQuant, settings, st) : inputQuantOf(loaded.ir, st, opts);
      const limits = modelLimits(opts.limits);
      checkCircuitSize(loaded.ir, st, limits, iq ?? undefined, { private: priv, explain: explainSettings ?? undefined });
      return quantizeModel(loaded.ir, st, iq ?? undefined, { private: priv });
    };
    const report = await fidelityReport(quantized, inputs, opts.floatModel, opts.fidelityHints, { maxRelativeError: opts.maxRelativeError, requantize });
    // A first tree ensemble: per feature, how far from a threshold an input must lie to be split as in float.
    const margins = splitMargins(loaded.ir, quantized);
    fidelity = { ...report, inputs: given ? 'given' : calibrated ? 'calibration' : 'random', ...(margins.length ? { splitMargins: margins } : {}) };
  }
  // What calibration made of the data (the ranges it widened, data that look truncated): the warnings go in the report.
  const calibration = opts.calibration?.length
    ? calibrationSummary(
        loaded.ir,
        opts.calibration,
        opts.inputRanges ?? {},
        opts.fidelityHints ?? CLI_FIDELITY_HINTS,
        opts.inputQuant !== undefined ? (opts.inputQuant ?? { scaleBits: [], bits: [], lo: [], hi: [] }) : null,
      )
    : undefined;
  if (fidelity && calibration) fidelity.warnings.push(...calibration.warnings.map((w) => `calibration: ${w}`));
  return {
    modelPath: opts.modelPath ?? '',
    modelId,
    descriptor,
    modelCommitment,
    settings,
    publicInput,
    ir: loaded.ir,
    quantized,
    circuit,
    compiled,
    fidelity,
    ...(calibration ? { calibration } : {}),
    ...(params ? { secret: { params, blinding: blinding! } } : {}),
    ...(explain ? { explain } : {}),
  };
}

/** ONNX file -> compiled proof circuit, with a fidelity report against onnxruntime. */
export async function compileModel(modelPath: string, opts: CompileOptions = {}): Promise<CompiledModel> {
  stage('import');
  const loaded = await loadModel(modelPath, { limits: opts.limits });
  const floatModel = (x: ArrayLike<number>) => runOnnxRuntime(modelPath, Float64Array.from(x), loaded.ir);
  return compileLoaded(loaded, { ...opts, floatModel, modelPath });
}
