import { ZkinferError } from '../core/errors.ts';
import {
  checkPtauPower,
  DEFAULT_MAX_PTAU_POWER,
  developmentPtau,
  operatorPtau,
  type PtauInfo,
  requiredPower,
  setupCircuit,
  type CircuitSetup,
} from '../prover/index.ts';
import type { CompiledModel } from './compile-model.ts';
import { stage } from '../core/progress.ts';

export interface SetupOptions {
  /** A ceremony ptau file; without one a development file is used (and marked insecure). */
  ptau?: string;
  /** sha256 an operator pins for a ptau file that is not a known ceremony file. */
  ptauSha256?: string | null;
  /** The setting that named the ptau, for errors (the service: ZKINFER_PTAU; default "ptau"). */
  ptauSetting?: string;
  /**
   * Refuse a development (insecure) powers of tau, the operator's file or the fallback: the
   * service in production mode without ZKINFER_ALLOW_DEV_SETUP. Checked before anything is
   * generated.
   */
  refuseDevelopment?: boolean;
  log?: (m: string) => void;
  /**
   * Largest ptau power used without an operator's file (default 16, env
   * ZKINFER_MAX_PTAU_POWER through `maxPtauPowerFromEnv`): a circuit needing more is
   * MODEL_TOO_LARGE before any powers of tau are generated. An operator's file is the
   * operator's decision and is not capped.
   */
  maxPtauPower?: number;
}

/** The powers of tau for a compiled model (or any compiled circuit): the operator's file (checked), else a development one. */
export async function pickPtau(m: Pick<CompiledModel, 'compiled'>, opts: SetupOptions = {}): Promise<PtauInfo> {
  const nPublic = m.compiled.nPubOut + m.compiled.nPubIn;
  const needed = requiredPower(m.compiled.constraints, nPublic);
  const maxPower = opts.maxPtauPower ?? DEFAULT_MAX_PTAU_POWER;
  if (!opts.ptau) {
    if (opts.refuseDevelopment) throw refusedDevelopment(opts.ptauSetting);
    checkPtauPower(needed, maxPower, m.compiled.constraints);
  }
  const ptau = opts.ptau ? await operatorPtau(opts.ptau, needed, opts.ptauSha256, opts.ptauSetting) : await developmentPtau(needed, opts.log, maxPower);
  if (ptau.insecure && opts.refuseDevelopment) throw refusedDevelopment(opts.ptauSetting, ptau.name);
  if (ptau.insecure) opts.log?.(`WARNING: development powers of tau (${ptau.name}): proofs from this setup are not secure`);
  return ptau;
}

/** Picks the powers of tau for a compiled model and runs (or reuses) its phase-2 setup. */
export async function setupModel(m: CompiledModel, opts: SetupOptions = {}): Promise<CircuitSetup> {
  stage('ptau');
  return setupCircuit(m.compiled, await pickPtau(m, opts));
}

function refusedDevelopment(setting = 'ptau', name?: string): ZkinferError {
  return new ZkinferError(
    'SETTINGS',
    name
      ? `the powers of tau ${name} (${setting}) is a development file whose secrets are published: a setup on it can be ` +
          `forged; production setups need a public ceremony file or an operator-pinned one`
      : `no powers of tau is configured (${setting}): production setups need a public ceremony file or an operator-pinned one, not a development file`,
    setting,
  );
}
