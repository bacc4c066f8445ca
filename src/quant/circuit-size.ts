import { checkLimit, DEFAULT_MODEL_LIMITS, type ModelLimits } from '../model/limits.ts';
import type { ModelIR } from '../model/ir.ts';
import { layerModule } from '../layers/index.ts';
import { type InputQuant, oneHotGroups } from '../fixed/input-quant.ts';
import { absorbInputScales, checkPrivateLayers } from './quantize.ts';
import { paramCommitmentConstraints } from '../layers/emit.ts';
import { type ExplainSettings, explainOverhead } from './explain.ts';
import { activationBits, type QuantSettings, validateSettings } from '../fixed/settings.ts';

/** One row of the estimate: a layer's exact constraint count. */
export interface LayerSize {
  name: string;
  constraints: number;
}

/**
 * The model circuit's constraint count, from the float IR and the settings alone: the
 * per-layer counts `generateModelTemplate` states (src/circuit/generate.ts), without
 * quantizing the weights or generating any text, so an oversized model is refused
 * before the expensive steps. Both ask each layer's module (`count`, src/layers/) with
 * the layer's shape, from the float layer here and from the quantized one there.
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
export function estimateConstraints(
  ir: ModelIR,
  settings: QuantSettings,
  inputQuant?: InputQuant,
  opts: { private?: boolean; explain?: ExplainSettings } = {},
): { total: number; layers: LayerSize[] } {
  const st = validateSettings(settings);
  const priv = opts.private === true;
  if (priv) checkPrivateLayers(ir.layers);
  let params = 0;
  const w = activationBits(st);
  // A categorical column's one-hot features cost one constraint each instead of a range check.
  const oneHot = new Set(oneHotGroups(ir.inputs).flatMap((g) => Array.from({ length: g.size }, (_, k) => g.start + k)));
  let inputChecks = 0;
  for (let i = 0; i < ir.inputSize; i++) inputChecks += oneHot.has(i) ? 1 : (inputQuant?.bits[i] ?? w);
  const layers: LayerSize[] = [{ name: 'input', constraints: inputChecks }];
  // Which elements of the current vector have sign digits (a rescale or the input check made them).
  let pos: Uint8Array = new Uint8Array(ir.inputSize).fill(1);
  const allKnown = (lo: number, hi: number) => {
    for (let i = lo; i < hi; i++) if (!pos[i]) return false;
    return true;
  };
  // As quantizeModel: the first dense layer absorbs lowered feature scales (only its weights change).
  const irLayers = inputQuant && inputQuant.scaleBits.some((x) => x !== st.scaleBits) ? absorbInputScales(ir.layers, inputQuant, st) : ir.layers;
  // A max pool right after a linear layer compares its accumulators (width w + t) and
  // rescales only the maxima (src/layers/linear.ts): t of the layer before.
  let pooled: number | undefined;
  irLayers.forEach((l, li) => {
    const m = layerModule(l.kind);
    const shape = m.shape(l, { settings: st, first: li === 0, inputQuant, inputSize: ir.inputSize, next: irLayers[li + 1]?.kind, private: priv });
    const [a, b] = (l as { span?: [number, number] }).span ?? [0, pos.length];
    const c = m.count(shape, { settings: st, known: allKnown(a, b), pooled });
    pos = c.known;
    pooled = c.pooled;
    params += c.params ?? 0;
    layers.push({ name: l.name, constraints: c.constraints });
  });
  if (ir.head === 'sigmoid') layers.push({ name: 'head', constraints: allKnown(0, ir.outputSize) ? 0 : ir.outputSize * w });
  else if (ir.head === 'softmax' || ir.head === 'argmax') layers.push({ name: 'head', constraints: ir.outputSize * (w + 3) });
  if (priv && params > 0) layers.push({ name: 'parameters', constraints: paramCommitmentConstraints(params) });
  if (opts.explain) {
    // Each copy is the model without its input checks and parameter commitment.
    const core = layers.filter((l) => l.name !== 'input' && l.name !== 'parameters').reduce((a, l) => a + l.constraints, 0);
    const decisionSize = ir.head === 'sigmoid' ? ir.outputSize : ir.head === 'softmax' || ir.head === 'argmax' ? 1 : 0;
    const o = explainOverhead(opts.explain, { ...ir, settings: st }, decisionSize);
    layers.push({ name: 'explain', constraints: o.copies * core + o.constraints });
  }
  return { total: layers.reduce((a, l) => a + l.constraints, 0), layers };
}

/**
 * Refuses a model whose circuit would have more than `limits.maxConstraints`
 * constraints (MODEL_TOO_LARGE naming the largest layer), before anything is compiled.
 */
export function checkCircuitSize(
  ir: ModelIR,
  settings: QuantSettings,
  limits: ModelLimits = DEFAULT_MODEL_LIMITS,
  inputQuant?: InputQuant,
  opts: { private?: boolean; explain?: ExplainSettings } = {},
): number {
  const { total, layers } = estimateConstraints(ir, settings, inputQuant, opts);
  const largest = layers.reduce((a, b) => (b.constraints > a.constraints ? b : a));
  checkLimit(
    limits,
    'maxConstraints',
    total,
    `the model circuit's constraint count (largest layer ${largest.name}: ` +
      `${largest.constraints.toLocaleString('en-US')}) at scale 2^${settings.scaleBits} with ${settings.bits} bits`,
    largest.name,
  );
  return total;
}
