import { compileCircuit, type CompiledCircuit, generateCircuit, type GeneratedCircuit } from '../circuit/index.ts';
import { loadModel, runOnnxRuntime, type ModelIR } from '../model/index.ts';
import {
  DEFAULT_SETTINGS,
  fidelityReport,
  type FidelityReport,
  type QuantizedModel,
  type QuantSettings,
  quantizeModel,
} from '../quant/index.ts';
import { sha256Hex } from '../store/paths.ts';

export interface CompileOptions {
  settings?: Partial<QuantSettings>;
  /** Inputs for the fidelity report; without them, `samples` seeded random inputs in [-1, 1]. */
  inputs?: ArrayLike<number>[];
  samples?: number;
}

export interface CompiledModel {
  /** Hash of the ONNX bytes, its external data and the settings: the model's id. */
  modelId: string;
  settings: QuantSettings;
  ir: ModelIR;
  quantized: QuantizedModel;
  circuit: GeneratedCircuit;
  compiled: CompiledCircuit;
  fidelity: FidelityReport & { inputs: 'given' | 'random' };
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

/** ONNX file -> IR -> fixed point -> .circom -> r1cs + wasm (cached), with a fidelity report. */
export async function compileModel(modelPath: string, opts: CompileOptions = {}): Promise<CompiledModel> {
  const settings: QuantSettings = { ...DEFAULT_SETTINGS, ...opts.settings };
  const loaded = await loadModel(modelPath);
  const quantized = quantizeModel(loaded.ir, settings);
  const circuit = generateCircuit(quantized);
  const compiled = await compileCircuit(circuit.source);
  const given = opts.inputs !== undefined && opts.inputs.length > 0;
  const inputs = given ? opts.inputs! : randomInputs(loaded.ir.inputSize, opts.samples ?? 32);
  const report = await fidelityReport(quantized, inputs, (x) => runOnnxRuntime(modelPath, Float64Array.from(x), loaded.ir));
  const modelId = sha256Hex(loaded.bytes, ...loaded.externalBytes, JSON.stringify(settings));
  return { modelId, settings, ir: loaded.ir, quantized, circuit, compiled, fidelity: { ...report, inputs: given ? 'given' : 'random' } };
}
