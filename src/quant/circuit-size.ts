import { checkLimit, DEFAULT_MODEL_LIMITS, type ModelLimits } from '../model/limits.ts';
import type { ModelIR } from '../model/ir.ts';
import { type InputQuant, isDefaultInputQuant, oneHotGroups } from './input-quant.ts';
import { absorbInputScales, firstLayerAccBits, type QLayer, quantizeLayer, weightShift } from './quantize.ts';
import { activationBits, type QuantSettings, validateSettings } from './settings.ts';

/** One row of the estimate: a layer's exact constraint count. */
export interface LayerSize {
  name: string;
  constraints: number;
}

/**
 * The model circuit's constraint count, from the float IR and the settings alone: the
 * per-layer counts `generateModelTemplate` states (src/circuit/generate.ts), without
 * quantizing the weights or generating any text, so an oversized model is refused
 * before the expensive steps. A test holds the two equal layer by layer.
 *
 * Without `inputQuant` every feature is checked at the full activation width: an upper
 * bound for the same model with per-feature widths (narrower checks, and a first layer
 * whose weights grow by the absorbed scales and so need no more weight bits).
 */
export function estimateConstraints(ir: ModelIR, settings: QuantSettings, inputQuant?: InputQuant): { total: number; layers: LayerSize[] } {
  const st = validateSettings(settings);
  const s = st.scaleBits;
  const B = st.bits;
  const w = activationBits(st);
  const lo = -(2 ** (w - 1));
  const hi = 2 ** (w - 1) - 1;
  // A categorical column's one-hot features cost one constraint each instead of a range check.
  const oneHot = new Set(oneHotGroups(ir.inputs).flatMap((g) => Array.from({ length: g.size }, (_, k) => g.start + k)));
  let inputChecks = 0;
  for (let i = 0; i < ir.inputSize; i++) inputChecks += oneHot.has(i) ? 1 : (inputQuant?.bits[i] ?? w);
  const layers: LayerSize[] = [{ name: 'input', constraints: inputChecks }];
  // Whether the current vector's sign digits exist (a rescale or the input check made them).
  let pos = true;
  // As quantizeModel: the first dense layer absorbs lowered feature scales (only its weights change).
  const irLayers = inputQuant && inputQuant.scaleBits.some((x) => x !== s) ? absorbInputScales(ir.layers, inputQuant, st) : ir.layers;
  for (const [k, l] of irLayers.entries()) {
    let c: number;
    switch (l.kind) {
      case 'dense': {
        // As quantizeModel: a first layer after per-feature input checks may rescale narrower.
        const acc = k === 0 && inputQuant && !isDefaultInputQuant(inputQuant, st) ? firstLayerAccBits(quantizeLayer(l, st) as Extract<QLayer, { kind: 'dense' }>, st, inputQuant) : null;
        c = l.outSize * (acc ?? w + weightShift(l.weights, s));
        pos = true;
        break;
      }
      case 'relu':
        c = pos ? l.size : l.size * (w + 1);
        pos = false;
        break;
      case 'leaky_relu':
        c = l.size * (1 + B + (pos ? 0 : w));
        pos = false;
        break;
      case 'clip': {
        // As quantizeLayer: a bound the representable range cannot reach is dropped.
        const min = l.min === -Infinity || Math.round(l.min * 2 ** s) <= lo ? 0 : 1;
        const max = l.max === Infinity || Math.round(l.max * 2 ** s) >= hi ? 0 : 1;
        c = l.size * (min + max) * (w + 2);
        pos = false;
        break;
      }
      case 'sigmoid':
        c = l.size * (w + 2) + l.size * 2 * (w + 2);
        pos = false;
        break;
      default:
        return l satisfies never;
    }
    layers.push({ name: l.name, constraints: c });
  }
  if (ir.head === 'sigmoid') layers.push({ name: 'head', constraints: pos ? 0 : ir.outputSize * w });
  else if (ir.head === 'softmax') layers.push({ name: 'head', constraints: ir.outputSize * (w + 3) });
  return { total: layers.reduce((a, l) => a + l.constraints, 0), layers };
}

/**
 * Refuses a model whose circuit would have more than `limits.maxConstraints`
 * constraints (MODEL_TOO_LARGE naming the largest layer), before anything is compiled.
 */
export function checkCircuitSize(ir: ModelIR, settings: QuantSettings, limits: ModelLimits = DEFAULT_MODEL_LIMITS, inputQuant?: InputQuant): number {
  const { total, layers } = estimateConstraints(ir, settings, inputQuant);
  const largest = layers.reduce((a, b) => (b.constraints > a.constraints ? b : a));
  checkLimit(
    limits,
    'maxConstraints',
    total,
    `the model circuit's constraint count (largest layer ${largest.name}: ${largest.constraints.toLocaleString('en-US')}) at scale 2^${settings.scaleBits} with ${settings.bits} bits`,
    largest.name,
  );
  return total;
}
