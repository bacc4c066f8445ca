import { createRequire } from 'node:module';
import path from 'node:path';
import type { VerificationKey } from 'snarkjs';
import { ZkinferError } from '../core/errors.ts';
import { readJson, writeJsonAtomic } from '../store/json-file.ts';
import { artifactDir } from '../core/artifacts.ts';
import { artifactStore } from '../core/artifact-store.ts';
import { sha256Hex } from '../core/hash.ts';
import { REGISTRY_CONTRACT, type RegistryModel, registrySource, VERIFIER_CONTRACT, verifierSource } from './solidity.ts';

const require = createRequire(import.meta.url);

interface Solc {
  version(): string;
  compile(input: string): string;
}
let solc: Solc | undefined;

/**
 * Compiler settings, fixed so the same sources always give the same bytecode (the
 * compiler itself is pinned in package.json). EVM "paris" (no PUSH0) deploys on any
 * chain with the BN254 precompiles.
 */
export const SOLC_SETTINGS = { optimizer: { enabled: true, runs: 200 }, evmVersion: 'paris' } as const;

export interface CompiledContract {
  name: string;
  source: string;
  abi: unknown[];
  /** Creation bytecode, 0x-prefixed. */
  bytecode: string;
}

export interface ContractSet {
  compiler: { name: 'solc'; version: string; settings: typeof SOLC_SETTINGS };
  modelId: string;
  verifier: CompiledContract;
  registry: CompiledContract;
}

function loadSolc(): Solc {
  return (solc ??= require('solc') as Solc);
}

/**
 * Generates and compiles a model's verifier and registry with the pinned solc, cached
 * under artifacts/contracts by the hash of the compiler input. Throws CONTRACT_COMPILE
 * with solc's first error.
 */
export async function compileContracts(model: RegistryModel, vkey: VerificationKey): Promise<ContractSet> {
  const sources: Record<string, string> = { [`${VERIFIER_CONTRACT}.sol`]: verifierSource(vkey), [`${REGISTRY_CONTRACT}.sol`]: registrySource(model) };
  const input = {
    language: 'Solidity',
    sources: Object.fromEntries(Object.entries(sources).map(([k, content]) => [k, { content }])),
    settings: { ...SOLC_SETTINGS, outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } } },
  };
  const inputJson = JSON.stringify(input);
  const version = require('solc/package.json').version as string;
  const file = path.join(artifactDir('contract', sha256Hex(version, inputJson)), 'contracts.json');
  // A shared store: a worker compiled them (off the API's event loop); fetched, checked by hash.
  const cached = (await artifactStore().fetch(file)) ? await readJson<ContractSet>(file) : null;
  if (cached) return cached;
  const c = loadSolc();
  const out = JSON.parse(c.compile(inputJson)) as {
    errors?: { severity: string; formattedMessage: string }[];
    contracts?: Record<string, Record<string, { abi: unknown[]; evm: { bytecode: { object: string } } }>>;
  };
  const error = out.errors?.find((e) => e.severity === 'error');
  if (error || !out.contracts) throw new ZkinferError('CONTRACT_COMPILE', `solc ${c.version()}: ${error?.formattedMessage ?? 'no output'}`, 'contracts');
  const pick = (name: string): CompiledContract => {
    const art = out.contracts?.[`${name}.sol`]?.[name];
    if (!art) throw new ZkinferError('CONTRACT_COMPILE', `solc produced no ${name}`, 'contracts');
    return { name, source: sources[`${name}.sol`], abi: art.abi, bytecode: `0x${art.evm.bytecode.object}` };
  };
  const set: ContractSet = {
    compiler: { name: 'solc', version: c.version(), settings: SOLC_SETTINGS },
    modelId: model.id,
    verifier: pick(VERIFIER_CONTRACT),
    registry: pick(REGISTRY_CONTRACT),
  };
  await writeJsonAtomic(file, set);
  await artifactStore().putFiles([file]);
  return set;
}
