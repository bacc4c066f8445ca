import type { InputQuant, LayerInputQuant } from '../fixed/input-quant.ts';
import type { QuantSettings } from '../fixed/settings.ts';
import type { Cursor, EmitContext } from './emit.ts';

/**
 * One layer kind, in one module (`src/layers/<kind>.ts`): everything the pipeline does
 * with a layer of that kind, from the float IR to the circuit text. The orchestrators
 * (`evalFloat`, `quantizeModel`, `runReference`, `estimateConstraints`,
 * `generateModelTemplate`) loop over the layers and ask the registry (`src/layers/index.ts`)
 * for each layer's module; adding a kind is one module plus its circom template.
 *
 * `L` is the float IR layer, `Q` the quantized layer (`QLayer`), `S` the layer's shape:
 * what its constraint count depends on, derived from either, so that the estimate (from
 * the float IR, before anything is quantized) and the generator's plan ask the same
 * `count`, stated once.
 */
export interface LayerModule<L extends NamedLayer = NamedLayer, Q extends NamedLayer = NamedLayer, S = unknown> {
  /** The IR kind (`Layer['kind']`). */
  kind: L['kind'];
  /** The quantized kind (`QLayer['kind']`): the IR kind, except a sigmoid quantizes to a hard sigmoid. */
  qkind: Q['kind'];
  /** Plain float evaluation (checks the lowering against onnxruntime). */
  evalFloat(layer: L, x: Float64Array): Float64Array;
  /** Refuses settings the layer cannot work with, before any layer is quantized. */
  checkSettings?(layer: L, settings: QuantSettings): void;
  /**
   * Absorbs lowered input scales when the layer is the first: feature i is stored at scale
   * 2^s_i, `factor(i)` = 2^(s - s_i). Absent: the layer cannot read such inputs.
   */
  absorbScales?(layer: L, factor: (i: number) => number): L;
  /** The fixed-point layer. */
  quantize(layer: L, ctx: QuantizeContext): Q;
  /** Refuses a quantized layer whose values could wrap around the field (see `checkNoWrap`). */
  checkWrap?(layer: Q, ctx: WrapContext): void;
  /** The integer reference step: what the circuit's witness must contain, bit for bit. */
  reference(layer: Q, x: bigint[], settings: QuantSettings): bigint[];
  /** The shape of a float layer (the estimate, before anything is quantized). */
  shape(layer: L, ctx: ShapeContext): S;
  /** The same shape of the quantized layer (the generator). */
  qshape(layer: Q, ctx: EmitContext): S;
  /** The exact non-linear constraint count after circom --O2: the estimate and the generator both ask it. */
  count(shape: S, env: CountEnv): LayerCount;
  /** Emits the layer's circuit text into `ctx.lines`; returns the signals holding its output. */
  emit(layer: Q, shape: S, cur: Cursor, ctx: EmitContext): Cursor;
  /** Top-level circom text the layer's emission uses (templates not in `circuits/`), added once before the model template. */
  templates?: string;
  /**
   * How the kind takes part in a private model (`QuantizedModel.private`), whose parameters
   * are private witnesses bound by a commitment: `'parameters'`, it reads its parameters
   * from `ctx.params` (and its shape and count do not depend on their values);
   * `'architecture'`, it has none, or its constants are part of the architecture (a clip's
   * bounds, a leaky ReLU's slope) and stay in the circuit. Absent: a private model with a
   * layer of this kind is refused.
   */
  privacy?: 'parameters' | 'architecture';
}

export interface NamedLayer {
  kind: string;
  name: string;
}

/** A layer's constraint count and how it arises. */
export interface LayerCount {
  constraints: number;
  /** How the count arises, e.g. "64 x 32". */
  formula: string;
  /** Per output element, 1 when its sign digit is known after the layer (a rescale or a range check made it). */
  known: Uint8Array;
  /** Set when the outputs are accumulators not yet rescaled (a max pool follows): their weight shift. */
  pooled?: number;
  /** In a private model: how many parameters the layer takes from the parameter witness. */
  params?: number;
}

/** What a count depends on besides the layer's shape. */
export interface CountEnv {
  settings: QuantSettings;
  /** Whether every element the layer reads (its span's, or all) has a known sign digit. */
  known: boolean;
  /** The layer reads accumulators not yet rescaled by 2^pooled (a linear layer before it). */
  pooled?: number;
}

export interface QuantizeContext {
  settings: QuantSettings;
  /** The first layer's inputs: each feature's scale and width (absent for a later layer). */
  input?: LayerInputQuant;
  /** Per-feature input quantization of the model, when not the default one (first layer only). */
  perFeature?: InputQuant | null;
  /** The kind of the next layer. */
  next?: string;
  /** The model is private: nothing the circuit's shape depends on may come from a parameter's value. */
  private?: boolean;
}

export interface WrapContext {
  settings: QuantSettings;
  /** The kind of the next layer. */
  next?: string;
}

export interface ShapeContext {
  settings: QuantSettings;
  /** Whether the layer is the first (it reads the inputs). */
  first: boolean;
  /** The input quantization the estimate was given (possibly the default one). */
  inputQuant?: InputQuant;
  inputSize: number;
  /** The kind of the next layer. */
  next?: string;
  /** The model is private (see `QuantizeContext.private`). */
  private?: boolean;
}

/** None of `n` elements has a known sign digit. */
export const noneKnown = (n: number): Uint8Array => new Uint8Array(n);
/** All `n` elements have a known sign digit. */
export const allKnown = (n: number): Uint8Array => new Uint8Array(n).fill(1);
