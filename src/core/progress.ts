import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The stages a model goes through on its way to a proving key, in order. A cached step
 * still reports its stage (and passes it at once).
 * - import: the ONNX file read, checked and lowered
 * - quantize: fixed-point parameters and the circuit's source generated
 * - circom: the circuit compiled to r1cs and a witness generator
 * - fidelity: the quantized model compared with onnxruntime
 * - ptau: the powers of tau picked (and checked, or generated for development)
 * - phase2: the circuit's phase-2 key started from the ptau
 * - contribution, beacon: its phase-2 contribution and beacon
 * - export-key: the verification key exported
 * - contracts: the Solidity verifier compiled (REST workers)
 */
export const STAGES = ['import', 'quantize', 'circom', 'fidelity', 'ptau', 'phase2', 'contribution', 'beacon', 'export-key', 'contracts'] as const;
export type Stage = (typeof STAGES)[number];

export interface StageEvent {
  stage: Stage;
  /** What the stage works on, when known (e.g. `1,306 constraints`). */
  detail?: string;
  at: string;
}

export type ProgressReporter = (e: StageEvent) => void;

const current = new AsyncLocalStorage<ProgressReporter>();

/**
 * Runs `fn` with `report` receiving every stage the pipeline code it calls reaches
 * (through `stage`), without threading a callback through each function.
 */
export function withProgress<T>(report: ProgressReporter, fn: () => Promise<T>): Promise<T> {
  return current.run(report, fn);
}

/** Reports a stage to whoever runs this code under `withProgress` (nobody: nothing happens). A reporter that throws is ignored. */
export function stage(s: Stage, detail?: string): void {
  const report = current.getStore();
  if (!report) return;
  try {
    report({ stage: s, ...(detail !== undefined ? { detail } : {}), at: new Date().toISOString() });
  } catch {
    // Progress is information: it never fails the work it describes.
  }
}
