import { developmentPtau, operatorPtau, type PtauInfo, requiredPower, setupCircuit, type CircuitSetup } from '../prover/index.ts';
import type { CompiledModel } from './compile-model.ts';

export interface SetupOptions {
  /** A ceremony ptau file; without one a development file is used (and marked insecure). */
  ptau?: string;
  /** sha256 an operator pins for a ptau file that is not a known ceremony file. */
  ptauSha256?: string;
  log?: (m: string) => void;
}

/** The powers of tau for a compiled model: the operator's file (checked), else a development one. */
export async function pickPtau(m: CompiledModel, opts: SetupOptions = {}): Promise<PtauInfo> {
  const nPublic = m.compiled.nPubOut + m.compiled.nPubIn;
  const needed = requiredPower(m.compiled.constraints, nPublic);
  const ptau = opts.ptau ? await operatorPtau(opts.ptau, needed, opts.ptauSha256) : await developmentPtau(needed, opts.log);
  if (ptau.insecure) opts.log?.(`WARNING: development powers of tau (${ptau.name}): proofs from this setup are not secure`);
  return ptau;
}

/** Picks the powers of tau for a compiled model and runs (or reuses) its phase-2 setup. */
export async function setupModel(m: CompiledModel, opts: SetupOptions = {}): Promise<CircuitSetup> {
  return setupCircuit(m.compiled, await pickPtau(m, opts));
}
