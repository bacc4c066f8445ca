import { checkLimit, DEFAULT_MODEL_LIMITS, type ModelLimits } from '../model/limits.ts';
import type { ModelIR } from '../model/ir.ts';
import { type InputQuant, isDefaultInputQuant, oneHotGroups } from './input-quant.ts';
import { absorbInputScales, copySourcesFloat, firstLayerAccBits, firstLayerInput, type QLayer, quantizeLayer, weightShift } from './quantize.ts';
import { activationBits, type QuantSettings, validateSettings } from './settings.ts';
import { planTrees, treeShift } from './tree-plan.ts';
import { binarizeCost, normalizeCost, planNormalize } from './ml-plan.ts';

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
 * Not so for a model whose first layer is a tree ensemble: its thresholds are quantized
 * to each feature's own scale, and a finer scale can bring thresholds into range that
 * the model's scale put beyond it (constant tests); nor, by up to a bit per element, for a
 * first binarize or normalize layer reading unsigned features of the full width (checked
 * in [0, 2^w): w + 1 signed bits). Compiling checks the limit again
 * with the model's actual input quantization, before anything is compiled.
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
  // Which elements of the current vector have sign digits (a rescale or the input check made them).
  let pos = new Uint8Array(ir.inputSize).fill(1);
  const allKnown = (lo: number, hi: number) => {
    for (let i = lo; i < hi; i++) if (!pos[i]) return false;
    return true;
  };
  const spanOf = (l: { size: number; span?: [number, number] }): [number, number] => l.span ?? [0, l.size];
  const firstWidths = firstLayerInput(st, ir.inputSize, inputQuant).widths;
  // As quantizeModel: the first dense layer absorbs lowered feature scales (only its weights change).
  const irLayers = inputQuant && inputQuant.scaleBits.some((x) => x !== s) ? absorbInputScales(ir.layers, inputQuant, st) : ir.layers;
  // A max pool right after a linear layer compares its accumulators (width w + t) and
  // rescales only the maxima (src/circuit/generate.ts): t of the layer before, or -1.
  let pooledShift = -1;
  for (let li = 0; li < irLayers.length; li++) {
    const l = irLayers[li];
    const next = irLayers[li + 1];
    let c: number;
    switch (l.kind) {
      case 'dense':
      case 'sparse': {
        const t = weightShift(l.kind === 'dense' ? l.weights : l.vals, s);
        pos = new Uint8Array(l.outSize).fill(1);
        if (next?.kind === 'maxpool') {
          pooledShift = t;
          c = 0;
        } else {
          // As quantizeModel: a first dense layer after per-feature input checks may rescale narrower.
          const acc =
            li === 0 && l.kind === 'dense' && inputQuant && !isDefaultInputQuant(inputQuant, st) ? firstLayerAccBits(quantizeLayer(l, st) as Extract<QLayer, { kind: 'dense' }>, st, inputQuant) : null;
          // As the generator: rows that copy an input are not rescaled (and have no sign digits).
          const src = copySourcesFloat(l, t, s, li === 0 ? (col) => firstWidths[col] <= w : () => true);
          let rescaled = 0;
          src.forEach((col, j) => {
            if (col >= 0) pos[j] = 0;
            else rescaled++;
          });
          c = rescaled * (acc ?? w + t);
        }
        break;
      }
      case 'maxpool': {
        const pairs = l.idx.length - l.outSize;
        if (pooledShift >= 0) {
          c = pairs * (w + pooledShift + 2) + l.outSize * (w + pooledShift);
          pos = new Uint8Array(l.outSize).fill(1);
        } else {
          c = pairs * (w + 2);
          pos = new Uint8Array(l.outSize);
        }
        pooledShift = -1;
        break;
      }
      case 'relu': {
        const [a, b] = spanOf(l);
        c = allKnown(a, b) ? b - a : (b - a) * (w + 1);
        pos = new Uint8Array(l.size);
        break;
      }
      case 'leaky_relu': {
        const [a, b] = spanOf(l);
        c = (b - a) * (1 + B + (allKnown(a, b) ? 0 : w));
        pos = new Uint8Array(l.size);
        break;
      }
      case 'clip': {
        // As quantizeLayer: a bound the representable range cannot reach is dropped.
        const min = l.min === -Infinity || Math.round(l.min * 2 ** s) <= lo ? 0 : 1;
        const max = l.max === Infinity || Math.round(l.max * 2 ** s) >= hi ? 0 : 1;
        const [a, b] = spanOf(l);
        c = (b - a) * (min + max) * (w + 2);
        pos = new Uint8Array(l.size);
        break;
      }
      case 'sigmoid': {
        const [a, b] = spanOf(l);
        c = (b - a) * (w + 2) + (b - a) * 2 * (w + 2);
        pos = new Uint8Array(l.size);
        break;
      }
      case 'mul': {
        pos = Uint8Array.from(l.b, (b) => (b >= 0 ? 1 : 0));
        c = pos.reduce((a, v) => a + v, 0) * (1 + w + s);
        break;
      }
      case 'tree_ensemble': {
        // As quantizeModel: a first tree layer compares the features at their own scale and width.
        const input = li === 0 ? firstLayerInput(st, l.inSize, inputQuant) : firstLayerInput(st, l.inSize, null);
        const plan = planTrees(l, input.scales, input.widths);
        c = plan.comparisons + plan.products + l.outSize * (w + treeShift(l));
        pos = new Uint8Array(l.outSize).fill(1);
        break;
      }
      case 'binarize':
      case 'normalize': {
        // As quantizeModel: a first layer reads the inputs at their own widths (a first binarize also at their own scales).
        const first = li === 0 && inputQuant && !isDefaultInputQuant(inputQuant, st) ? firstLayerInput(st, l.size, inputQuant) : null;
        const [a, b] = spanOf(l);
        const widths = (first?.widths ?? new Array(l.size).fill(w)).slice(a, b);
        c = l.kind === 'binarize' ? binarizeCost(widths).constraints : normalizeCost(planNormalize(l.norm, b - a, first ? Math.max(...widths) : w, s, w, l.name), allKnown(a, b)).constraints;
        // A normalize layer's quotients are range-checked: their sign digits are known (not on a span: see `spanned`).
        pos = new Uint8Array(l.size).fill(l.kind === 'normalize' && !l.span ? 1 : 0);
        break;
      }
      default:
        return l satisfies never;
    }
    layers.push({ name: l.name, constraints: c });
  }
  if (ir.head === 'sigmoid') layers.push({ name: 'head', constraints: allKnown(0, ir.outputSize) ? 0 : ir.outputSize * w });
  else if (ir.head === 'softmax' || ir.head === 'argmax') layers.push({ name: 'head', constraints: ir.outputSize * (w + 3) });
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
