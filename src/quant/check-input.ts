import type { InputQuant } from '../fixed/input-quant.ts';
import { quantizeInput } from '../quant/reference.ts';
import type { QuantSettings } from '../fixed/settings.ts';
import { parseInput } from '../model/parse-input.ts';

/**
 * What a model publishes about its input: the graph inputs' names and sizes in order,
 * the fixed-point settings and, when features have their own scale and width, the
 * per-feature quantization. A model record and a proof bundle's `model` (the model
 * descriptor) carry these fields, so a service can check a request without the
 * compiled circuit.
 */
export interface InputDescription {
  inputs: { name: string; size: number; categories?: (string[] | null)[]; missing?: (number | null)[] }[];
  settings: QuantSettings;
  inputQuant?: InputQuant | null;
}

/**
 * Checks an input fully against a model's public description: its shape (INPUT_SHAPE),
 * that every value is a finite number (INPUT_VALUE) and lies in its feature's
 * representable range (INPUT_RANGE). Pure and synchronous; no error message contains an
 * input value. Returns the quantized features, in the flat input order, exactly as the
 * integer reference (and so the circuit) takes them.
 *
 * What it cannot see without the weights: an intermediate accumulator overflowing for
 * this input. The prover's integer reference still catches that (INPUT_RANGE, naming
 * the layer and neuron, not the value).
 */
export function checkInput(json: unknown, model: InputDescription): bigint[] {
  let offset = 0;
  const inputs = model.inputs.map((i) => {
    // Categories and imputed values as the descriptor lists them: the same mapping the prover applies.
    const d = {
      name: i.name,
      size: i.size,
      shape: [i.size],
      offset,
      ...(i.categories ? { categories: i.categories } : {}),
      ...(i.missing ? { missing: i.missing } : {}),
    };
    offset += i.size;
    return d;
  });
  const x = parseInput(json, { inputs, inputSize: offset });
  return quantizeInput({ settings: model.settings, inputQuant: model.inputQuant ?? null, inputs, inputSize: offset }, x);
}
