import { Contract, ContractFactory, type ErrorDescription, Interface, isAddress, JsonRpcProvider, Network, type Provider, type Signer, Wallet } from 'ethers';
import { ZkinferError } from '../core/errors.ts';
import type { ProofBundle } from '../bundle/format.ts';
import { descriptorCommitment } from '../bundle/descriptor.ts';
import { sha256Text } from '../core/hash.ts';
import { signalLayout } from '../bundle/decode.ts';
import { encodeCalls, proofAbi, solidityProof } from './calldata.ts';
import type { ContractSet } from './compile.ts';

function chainError(message: string, field: string, cause?: unknown): ZkinferError {
  return new ZkinferError('CHAIN', message, field, { cause });
}

/**
 * Connects to a JSON-RPC node: asks its chain id first (10 s timeout), so a wrong URL
 * is a clear error instead of ethers' endless network-detection retries. The signer is
 * the private key when given, else the node's first unlocked account (development nodes).
 */
export async function connect(
  rpc: string,
  opts: { privateKey?: string; timeoutMs?: number } = {},
): Promise<{ provider: JsonRpcProvider; signer: () => Promise<Signer>; chainId: bigint }> {
  let url: URL;
  try {
    url = new URL(rpc);
  } catch {
    throw chainError(`--rpc must be an http(s) URL, got "${rpc}"`, 'rpc');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw chainError(`--rpc must be an http(s) URL, got "${rpc}"`, 'rpc');
  let chainId: bigint;
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
      signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
    });
    const doc = (await res.json()) as { result?: string };
    if (typeof doc.result !== 'string') throw new Error(`HTTP ${res.status}, no chain id in the answer`);
    chainId = BigInt(doc.result);
  } catch (e) {
    throw chainError(`no Ethereum JSON-RPC node answers at ${rpc}: ${(e as Error).message}`, 'rpc', e);
  }
  const network = Network.from(chainId);
  const provider = new JsonRpcProvider(rpc, network, { staticNetwork: network });
  const signer = async (): Promise<Signer> => {
    if (opts.privateKey) {
      try {
        return new Wallet(opts.privateKey, provider);
      } catch {
        throw chainError('the private key must be 32 bytes of hex', 'private-key');
      }
    }
    const accounts = (await provider.send('eth_accounts', [])) as string[];
    if (!accounts.length) throw chainError('the node has no unlocked account: pass --private-key (or ZKINFER_PRIVATE_KEY)', 'private-key');
    return provider.getSigner(accounts[0]);
  };
  return { provider, signer, chainId };
}

export interface Deployment {
  chainId: string;
  modelId: string;
  verifier: { address: string; txHash: string; gasUsed: string };
  registry: { address: string; txHash: string; gasUsed: string };
}

async function deployOne(signer: Signer, abi: unknown[], bytecode: string, args: unknown[]) {
  const c = await new ContractFactory(abi as never, bytecode, signer).deploy(...args);
  await c.waitForDeployment();
  const tx = c.deploymentTransaction();
  const receipt = tx ? await tx.wait() : null;
  return { address: await c.getAddress(), txHash: tx?.hash ?? '', gasUsed: String(receipt?.gasUsed ?? 0n) };
}

/** Deploys a model's verifier, then its registry pointing at it. */
export async function deployContracts(signer: Signer, set: ContractSet): Promise<Deployment> {
  try {
    const verifier = await deployOne(signer, set.verifier.abi, set.verifier.bytecode, []);
    const registry = await deployOne(signer, set.registry.abi, set.registry.bytecode, [verifier.address]);
    const { chainId } = await signer.provider!.getNetwork();
    return { chainId: String(chainId), modelId: set.modelId, verifier, registry };
  } catch (e) {
    if (e instanceof ZkinferError) throw e;
    throw chainError(`deployment failed: ${(e as { shortMessage?: string }).shortMessage ?? (e as Error).message}`, 'rpc', e);
  }
}

/**
 * What zkinfer calls on any model's registry (ZkinferRegistry in solidity.ts): its entry
 * points for `n` public signals, the views, and the custom errors, so a revert decodes
 * by name without the compiled ABI.
 */
function registryInterface(n: number): Interface {
  return new Interface([
    ...proofAbi(n).fragments,
    'function verifier() view returns (address)',
    'function MODEL_COMMITMENT() view returns (uint256)',
    'function isAttested(uint256 nonce) view returns (bool)',
    'error WrongModel(uint256 modelCommitment)',
    'error NonceUsed(uint256 nonce)',
    'error InvalidProof()',
    'error UnknownNonce(uint256 nonce)',
  ]);
}

/** Refuses a malformed address, or one with no contract behind it. */
async function assertContract(provider: Provider, address: string): Promise<void> {
  if (!isAddress(address)) throw chainError(`--address must be a 0x-prefixed 20-byte address, got "${address}"`, 'address');
  if ((await provider.getCode(address)) === '0x') throw chainError(`there is no contract at ${address}`, 'address');
}

export interface OnchainResult {
  valid: boolean;
  reason: string;
  /** What ADDR holds: a registry (its verifier was called) or a verifier. */
  contract: 'registry' | 'verifier';
  verifier: string;
  /** For a registry: whether this proof's nonce is already attested there. */
  attested?: boolean;
}

/**
 * Asks the chain whether a bundle's proof verifies: `verifyProof` on ADDR, or, when ADDR
 * is a registry, on its verifier (after checking the registry is for this model).
 */
export async function verifyOnChain(provider: Provider, address: string, bundle: ProofBundle): Promise<OnchainResult> {
  await assertContract(provider, address);
  // What is decoded from the signals afterwards is read through the descriptor: it must be
  // the one the circuit (and so the deployed verifier's key) was built with.
  const bound = (await descriptorCommitment(bundle.model, sha256Text)).toString();
  if (bound !== bundle.publicSignals[0] || bound !== bundle.model.commitment) {
    return {
      valid: false,
      reason: 'the model descriptor does not hash to the model commitment (public signal 0): bundle.model was changed',
      contract: 'verifier',
      verifier: address,
    };
  }
  const registry = new Contract(address, registryInterface(bundle.publicSignals.length), provider);
  let verifier = address;
  let contract: OnchainResult['contract'] = 'verifier';
  let attested: boolean | undefined;
  try {
    verifier = (await registry.verifier()) as string;
    contract = 'registry';
  } catch {
    // not a registry: ADDR is the verifier itself
  }
  if (contract === 'registry') {
    const commitment = (await registry.MODEL_COMMITMENT()) as bigint;
    if (commitment.toString() !== bound) {
      return { valid: false, reason: `the registry at ${address} is for another model (commitment ${commitment})`, contract, verifier };
    }
    attested = (await registry.isAttested(BigInt(bundle.publicSignals[signalLayout(bundle.model).nonce]))) as boolean;
  }
  const data = encodeCalls(solidityProof(bundle.proof, bundle.publicSignals)).verifyProof;
  let ok: boolean;
  try {
    const out = await provider.call({ to: verifier, data });
    [ok] = proofAbi(bundle.publicSignals.length).decodeFunctionResult('verifyProof', out) as unknown as [boolean];
  } catch (e) {
    return {
      valid: false,
      reason:
        `verifyProof for ${bundle.publicSignals.length} public signals failed at ${verifier}: ` +
        `${(e as { shortMessage?: string }).shortMessage ?? (e as Error).message}`,
      contract,
      verifier,
      attested,
    };
  }
  return { valid: ok, reason: ok ? 'the on-chain verifier accepts the proof' : 'the on-chain verifier rejects the proof', contract, verifier, attested };
}

/**
 * The revert data in an ethers error: nodes put it in different places (a hex string
 * in `error.data`, or Hardhat/EDR style `{ data: '0x..' }`), so look for it.
 */
function revertData(e: unknown, depth = 0): string | null {
  if (!e || typeof e !== 'object' || depth > 4) return null;
  for (const [k, v] of Object.entries(e)) {
    if (k === 'data' && typeof v === 'string' && /^0x[0-9a-fA-F]{8}/.test(v)) return v;
    // the request's own calldata is not the answer
    if (k === 'transaction' || k === 'payload' || k === 'invocation') continue;
    if (typeof v === 'object') {
      const found = revertData(v, depth + 1);
      if (found) return found;
    }
  }
  return null;
}

/** A contract's custom error in an ethers error, decoded with the contract's ABI. */
export function decodeRevert(iface: Interface, e: unknown): ErrorDescription | null {
  const data = revertData(e);
  try {
    return data ? iface.parseError(data) : null;
  } catch {
    return null;
  }
}

export interface AttestResult {
  txHash: string;
  blockNumber: number;
  gasUsed: string;
  nonce: string;
}

/** Sends `attest` to a model's registry; a revert is a CHAIN error naming the registry's reason (WrongModel, NonceUsed, InvalidProof). */
export async function attestOnChain(signer: Signer, registryAddress: string, bundle: ProofBundle): Promise<AttestResult> {
  await assertContract(signer.provider!, registryAddress);
  const p = solidityProof(bundle.proof, bundle.publicSignals);
  const registry = new Contract(registryAddress, registryInterface(bundle.publicSignals.length), signer);
  try {
    const tx = await registry.attest(p.pA, p.pB, p.pC, p.pubSignals);
    const receipt = await tx.wait();
    return {
      txHash: tx.hash,
      blockNumber: receipt.blockNumber,
      gasUsed: String(receipt.gasUsed),
      nonce: bundle.publicSignals[signalLayout(bundle.model).nonce],
    };
  } catch (e) {
    const decoded = decodeRevert(registry.interface, e);
    if (decoded) throw chainError(`the registry reverted: ${decoded.name}(${decoded.args.join(', ')})`, 'bundle', e);
    throw chainError(`attest failed: ${(e as { shortMessage?: string }).shortMessage ?? (e as Error).message}`, 'rpc', e);
  }
}
