import { ZkinferError } from '../core/errors.ts';
import type { Head, IrInput, Layer, ModelIR } from '../model/ir.ts';
import { layerModule, type QLayer, qlayerModule } from '../layers/index.ts';
import { firstLayerInput, type InputQuant, isDefaultInputQuant } from '../fixed/input-quant.ts';
import { type QuantSettings, validateSettings } from '../fixed/settings.ts';

export interface QuantizedModel {
  settings: QuantSettings;
  /** Per-feature scale and width; null when every feature uses the model's scale and width. */
  inputQuant: InputQuant | null;
  inputs: IrInput[];
  inputSize: number;
  layers: QLayer[];
  outputSize: number;
  head: Head;
  /** A private model: the parameters are a private witness bound by a commitment, not constants of the circuit. */
  private?: boolean;
}

/** Refuses a private model with a layer whose kind cannot keep its parameters private (`LayerModule.privacy`). */
export function checkPrivateLayers(layers: readonly { kind: string; name: string }[]): void {
  for (const l of layers) {
    if (!layerModule(l.kind).privacy) {
      throw new ZkinferError(
        'SETTINGS',
        `${l.name}: a private model cannot have a ${l.kind} layer yet (its parameters would be constants of the circuit); ` +
          'private models support dense, sparse and convolution layers, tree ensembles and parameter-free activations: register it as public',
        'visibility',
      );
    }
  }
}

/**
 * Turns the float IR into fixed-point integers (each layer as its module quantizes it,
 * `src/layers/`) and checks statically that no accumulator can wrap around the field for
 * any in-range input.
 */
export function quantizeModel(ir: ModelIR, settings: QuantSettings, inputQuant?: InputQuant, opts: { private?: boolean } = {}): QuantizedModel {
  const st = validateSettings(settings);
  const priv = opts.private === true;
  if (priv) checkPrivateLayers(ir.layers);
  const perFeature = isDefaultInputQuant(inputQuant, st) ? null : inputQuant!;
  if (perFeature && (perFeature.scaleBits.length !== ir.inputSize || perFeature.bits.length !== ir.inputSize)) {
    throw new ZkinferError('SETTINGS', `input quantization covers ${perFeature.scaleBits.length} features; the model has ${ir.inputSize}`, 'inputQuant');
  }
  for (const l of ir.layers) layerModule(l.kind).checkSettings?.(l, st);
  // A first tree layer compares the features at their own scale and width; a first dense
  // layer after narrower input checks rescales narrower.
  const firstInput = firstLayerInput(st, ir.inputSize, perFeature);
  const irLayers = perFeature ? absorbInputScales(ir.layers, perFeature, st) : ir.layers;
  const layers = irLayers.map((l, i): QLayer => {
    const first = i === 0 ? { input: firstInput, perFeature } : {};
    return layerModule(l.kind).quantize(l, { settings: st, ...first, next: irLayers[i + 1]?.kind, ...(priv ? { private: true } : {}) });
  });
  const q: QuantizedModel = {
    settings: st,
    inputQuant: perFeature,
    inputs: ir.inputs,
    inputSize: ir.inputSize,
    layers,
    outputSize: ir.outputSize,
    head: ir.head,
    ...(priv ? { private: true } : {}),
  };
  checkNoWrap(q);
  return q;
}

/**
 * Features stored at their own scale 2^s_i enter the first layer, whose module absorbs
 * the factor 2^(s - s_i) (`absorbScales`): a dense or convolution layer multiplies its
 * weights (exact: a power of two), so its accumulator is at the model's scale as before;
 * a first tree ensemble or Binarizer compares each feature at its own scale and is left
 * as it is. A model whose first layer is none of these would carry the raw values into
 * activations at the model's scale, where they do not fit: it may narrow widths but not
 * lower scales.
 */
export function absorbInputScales(layers: Layer[], iq: InputQuant, st: QuantSettings): Layer[] {
  const first = layers[0];
  const lowered = iq.scaleBits.findIndex((s) => s !== st.scaleBits);
  if (lowered < 0) return layers;
  const absorb = first ? layerModule(first.kind).absorbScales : undefined;
  if (!first || !absorb) {
    throw new ZkinferError(
      'SETTINGS',
      `input feature ${lowered} needs scale 2^${iq.scaleBits[lowered]} to fit, but this model applies ` +
        `${first?.kind ?? 'nothing'} to its raw inputs before any dense or convolution layer, so they must fit the ` +
        `activations at scale 2^${st.scaleBits}: raise --bits`,
      'inputQuant',
    );
  }
  return [absorb(first, (i: number) => 2 ** (st.scaleBits - iq.scaleBits[i])), ...layers.slice(1)];
}

/**
 * Every activation is range-checked to w = bits - scale bits, so |x| <= 2^(w-1).
 * A dense accumulator is then at most sum|W| * 2^(w-1) + |b| in magnitude; it must
 * stay below p/2 so that a field element and the signed integer it stands for agree.
 * (The circuit's rescale also pins it to `bits` bits, but only this bound rules out
 * a wrapped sum that lands back in range.) Each layer's module states its own bound.
 */
export function checkNoWrap(q: QuantizedModel): void {
  q.layers.forEach((layer, i) => qlayerModule(layer.kind).checkWrap?.(layer, { settings: q.settings, next: q.layers[i + 1]?.kind }));
}
