import { checkPtauPower, DEFAULT_MAX_PTAU_POWER, developmentPtau, operatorPtau, requiredPower, setupCircuit, type CircuitSetup } from '../prover/index.ts';
import type { CompiledModel } from './compile-model.ts';

export interface SetupOptions {
  /** A ceremony ptau file; without one a development file is used (and marked insecure). */
  ptau?: string;
  /** sha256 an operator pins for a ptau file that is not a known ceremony file. */
  ptauSha256?: string;
  log?: (m: string) => void;
  /**
   * Largest ptau power used without an operator's file (default 16, env
   * ZKINFER_MAX_PTAU_POWER through `maxPtauPowerFromEnv`): a circuit needing more is
   * MODEL_TOO_LARGE before any powers of tau are generated. An operator's file is the
   * operator's decision and is not capped.
   */
  maxPtauPower?: number;
}

/** Picks the powers of tau for a compiled model and runs (or reuses) its phase-2 setup. */
export async function setupModel(m: CompiledModel, opts: SetupOptions = {}): Promise<CircuitSetup> {
  const nPublic = m.compiled.nPubOut + m.compiled.nPubIn;
  const needed = requiredPower(m.compiled.constraints, nPublic);
  const maxPower = opts.maxPtauPower ?? DEFAULT_MAX_PTAU_POWER;
  if (!opts.ptau) checkPtauPower(needed, maxPower, m.compiled.constraints);
  const ptau = opts.ptau ? await operatorPtau(opts.ptau, needed, opts.ptauSha256) : await developmentPtau(needed, opts.log, maxPower);
  if (ptau.insecure) opts.log?.(`WARNING: development powers of tau (${ptau.name}): proofs from this setup are not secure`);
  return setupCircuit(m.compiled, ptau);
}
