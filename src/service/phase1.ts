import path from 'node:path';
import { type Config, PHASE1_ENV, PRODUCTION_PTAU_HINT } from './config.ts';
import { isZkinferError, ZkinferError } from '../core/errors.ts';
import { artifactKindDir, exists } from '../core/artifacts.ts';
import { BUNDLED_DEV_PTAU, identifyPtau, operatorPtau, type PtauInfo } from '../prover/ptau.ts';
import type { SetupOptions } from '../pipeline/setup-model.ts';

type Phase1Config = Pick<Config, 'mode' | 'ptau' | 'ptauSha256' | 'allowDevSetup' | 'maxPtauPower'>;

/**
 * The powers of tau (phase 1) the service sets models up on, as the service itself checked
 * its file at start: /readyz shows it. `checkedBy: 'service'` says whose check it is (an
 * auditor runs `zkinfer audit` on the published files for their own).
 */
export interface ServicePhase1 {
  /**
   * ceremony: a known public ceremony file (blake2b-512); operator-pinned: the operator's own file matching ZKINFER_PTAU_SHA256;
   * development: published secrets, anyone can forge.
   */
  kind: PtauInfo['kind'];
  name: string;
  /** The file's power; without ZKINFER_PTAU, the largest development file the service would generate. */
  power: number;
  /** Null without ZKINFER_PTAU: development files are picked (or generated) per circuit. */
  sha256: string | null;
  insecure: boolean;
  /** ZKINFER_PTAU, or the development files (ptau/dev-13.ptau, larger ones generated). */
  source: 'ZKINFER_PTAU' | 'development files';
  mode: Config['mode'];
  checkedBy: 'service';
  checkedAt: string;
}

/**
 * Checks the configured powers of tau at start: the file exists, is a ptau, and is a known
 * public ceremony file, a development file (named so, whatever its pin), or matches the
 * operator's ZKINFER_PTAU_SHA256. In production mode a development phase 1 (no ZKINFER_PTAU,
 * or a development file) is refused unless ZKINFER_ALLOW_DEV_SETUP=true. Throws SETTINGS
 * naming what to set.
 */
export async function checkServicePhase1(config: Phase1Config): Promise<ServicePhase1> {
  const checkedAt = new Date().toISOString();
  const refuseDev = config.mode === 'production' && !config.allowDevSetup;
  if (!config.ptau) {
    if (refuseDev) {
      throw new ZkinferError(
        'SETTINGS',
        `configuration: ${PHASE1_ENV.mode}=production refuses to set models up on the insecure development powers of tau, ` +
          `and ${PHASE1_ENV.ptau} is not set: ${PRODUCTION_PTAU_HINT}`,
        PHASE1_ENV.ptau,
      );
    }
    return {
      kind: 'development',
      name: 'zkinfer development files',
      power: Math.max(BUNDLED_DEV_PTAU.power, config.maxPtauPower),
      sha256: null,
      insecure: true,
      source: 'development files',
      mode: config.mode,
      checkedBy: 'service',
      checkedAt,
    };
  }
  let info: PtauInfo;
  try {
    info = await operatorPtau(config.ptau, 0, config.ptauSha256, PHASE1_ENV.ptau);
  } catch (e) {
    if (isZkinferError(e)) {
      const pinned = config.ptauSha256 && /does not match the pinned/.test(e.message) ? ` (${PHASE1_ENV.ptauSha256})` : '';
      throw new ZkinferError('SETTINGS', `configuration: ${PHASE1_ENV.ptau}${pinned}: ${e.message}`, e.field ?? PHASE1_ENV.ptau);
    }
    throw new ZkinferError(
      'SETTINGS',
      `configuration: ${PHASE1_ENV.ptau} (${path.basename(config.ptau)}) cannot be read: ${(e as Error).message}`,
      PHASE1_ENV.ptau,
    );
  }
  if (info.insecure && refuseDev) {
    throw new ZkinferError(
      'SETTINGS',
      `configuration: ${PHASE1_ENV.mode}=production refuses ${PHASE1_ENV.ptau}=${path.basename(config.ptau)}: it is ` +
        `${info.name}, a development powers of tau whose secrets are published (anyone can forge proofs on ` +
        `it)${config.ptauSha256 ? '; pinning its hash does not change that' : ''}: ${PRODUCTION_PTAU_HINT}`,
      PHASE1_ENV.ptau,
    );
  }
  return {
    kind: info.kind,
    name: info.name,
    power: info.power,
    sha256: info.sha256,
    insecure: info.insecure,
    source: 'ZKINFER_PTAU',
    mode: config.mode,
    checkedBy: 'service',
    checkedAt,
  };
}

/** The setup options every setup and ceremony the service runs takes from its settings. */
export function serviceSetupOptions(config: Pick<Config, 'mode' | 'ptau' | 'ptauSha256' | 'allowDevSetup'> & { maxPtauPower?: number }): SetupOptions {
  return {
    ...(config.ptau ? { ptau: config.ptau, ptauSha256: config.ptauSha256 } : {}),
    ptauSetting: PHASE1_ENV.ptau,
    refuseDevelopment: config.mode === 'production' && !config.allowDevSetup,
    maxPtauPower: config.maxPtauPower,
  };
}

/**
 * The file a recorded setup's ptau is, on this service: the bundled or a cached development
 * file, or the configured ZKINFER_PTAU when its bytes are the recorded ones. Null when the
 * service does not hold it (an operator's file it is no longer configured with).
 */
export async function ptauFileFor(p: { kind: string; power: number; sha256: string }, configured: string | null | undefined): Promise<string | null> {
  if (p.sha256 === BUNDLED_DEV_PTAU.sha256) return BUNDLED_DEV_PTAU.file;
  if (configured && (await exists(configured))) {
    const id = await identifyPtau(configured).catch(() => null);
    if (id?.sha256 === p.sha256) return configured;
  }
  if (p.kind === 'development') return path.join(artifactKindDir('ptau'), `dev-${p.power}.ptau`);
  return null;
}

/** A recorded phase 1 as a model record shows it: a development file is development whatever an older record called it. */
export function recordedPhase1(p: { kind: string; name: string; power: number; sha256: string }, insecure: boolean) {
  const dev = p.sha256 === BUNDLED_DEV_PTAU.sha256 || p.kind === 'development';
  const kind: PtauInfo['kind'] = dev ? 'development' : p.kind === 'ceremony' ? 'ceremony' : 'operator-pinned';
  return { kind, name: p.name, power: p.power, sha256: p.sha256, insecure: dev || insecure, checkedBy: 'service' as const };
}

export { PHASE1_ENV };
export const isSettingsError = (e: unknown): e is ZkinferError => isZkinferError(e) && e.code === 'SETTINGS';
