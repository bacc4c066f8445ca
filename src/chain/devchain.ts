import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { getBytes, HDNodeWallet, type Eip1193Provider } from 'ethers';

const require = createRequire(import.meta.url);
type Edr = typeof import('@nomicfoundation/edr');

/** The well-known development mnemonic: its keys are public, fund nothing real with them. */
export const DEV_MNEMONIC = 'test test test test test test test test test test test junk';
export const DEV_CHAIN_ID = 31337;

export interface DevAccount {
  address: string;
  privateKey: string;
}

export interface DevChain {
  /** EIP-1193 provider: `new BrowserProvider(chain.provider)` gives ethers a signer for each account. */
  provider: Eip1193Provider;
  accounts: DevAccount[];
  hardfork: string;
  /** One raw JSON-RPC request (a JSON string) in, EDR's answer (result or error, no id) out. */
  handle: (body: string) => Promise<unknown>;
}

/** Development accounts m/44'/60'/0'/0/i of DEV_MNEMONIC. */
export function devAccounts(count: number): DevAccount[] {
  return Array.from({ length: count }, (_, i) => {
    const w = HDNodeWallet.fromPhrase(DEV_MNEMONIC, undefined, `m/44'/60'/0'/0/${i}`);
    return { address: w.address, privateKey: w.privateKey };
  });
}

let context: Promise<InstanceType<Edr['EdrContext']>> | undefined;

/**
 * An in-process Ethereum node (Nomic Foundation's EDR, the EVM behind Hardhat) on the
 * latest L1 hardfork, with funded development accounts and automining: real EVM
 * execution and real precompiles, no network.
 */
export async function startDevChain(opts: { accounts?: number } = {}): Promise<DevChain> {
  const edr = require('@nomicfoundation/edr') as Edr;
  context ??= (async () => {
    const ctx = new edr.EdrContext();
    await ctx.registerProviderFactory(edr.L1_CHAIN_TYPE, edr.l1ProviderFactory());
    return ctx;
  })();
  const ctx = await context;
  const hardfork = edr.l1HardforkLatest();
  const accounts = devAccounts(opts.accounts ?? 4);
  const genesisState = [...edr.l1GenesisState(hardfork), ...accounts.map((a) => ({ address: getBytes(a.address), balance: 10n ** 24n }))];
  const provider = await ctx.createProvider(
    edr.L1_CHAIN_TYPE,
    {
      allowBlocksWithSameTimestamp: false,
      allowUnlimitedContractSize: false,
      // A reverted call or transaction is a JSON-RPC error, as on a real node.
      bailOnCallFailure: true,
      bailOnTransactionFailure: true,
      chainId: BigInt(DEV_CHAIN_ID),
      coinbase: new Uint8Array(20),
      // Below the Osaka per-transaction gas cap (2^24).
      defaultTransactionGasLimit: 16_000_000n,
      genesisState,
      hardfork: edr.l1HardforkToString(hardfork),
      initialBaseFeePerGas: 1_000_000_000n,
      minGasPrice: 0n,
      mining: { autoMine: true, memPool: { order: edr.MineOrdering.Priority } },
      network: { genesisBlockGasLimit: 60_000_000n },
      networkId: BigInt(DEV_CHAIN_ID),
      observability: {},
      ownedAccounts: accounts.map((a) => a.privateKey),
      precompileOverrides: [],
    },
    { enable: false, decodeConsoleLogInputsCallback: () => [], printLineCallback: () => {} },
    { subscriptionCallback: () => {} },
    new edr.ContractDecoder(),
  );
  let id = 0;
  const handle = async (body: string): Promise<unknown> => {
    const r = await provider.handleRequest(body);
    return typeof r.data === 'string' ? JSON.parse(r.data) : r.data;
  };
  const eip1193: Eip1193Provider = {
    async request({ method, params }) {
      const d = (await handle(JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params: params ?? [] }))) as {
        result?: unknown;
        error?: { code: number; message: string; data?: unknown };
      };
      if (d.error) throw Object.assign(new Error(d.error.message), { code: d.error.code, data: d.error.data });
      return d.result;
    },
  };
  return { provider: eip1193, accounts, hardfork: edr.l1HardforkToString(hardfork), handle };
}

/**
 * Serves a development chain over JSON-RPC on HTTP (single and batch requests), for
 * `zkinfer deploy --rpc` and wallets to talk to. Port 0 picks a free port.
 */
export async function serveDevChain(opts: { port?: number; host?: string; accounts?: number } = {}): Promise<{ url: string; chain: DevChain; server: Server }> {
  const chain = await startDevChain({ accounts: opts.accounts });
  const { handle } = chain;
  const server = createServer((req, res) => {
    const reply = (status: number, doc: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(doc));
    };
    if (req.method !== 'POST') return reply(405, { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'JSON-RPC takes POST' } });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let doc: unknown;
      try {
        doc = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return reply(400, { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'parse error' } });
      }
      // EDR answers with the result or error alone: give each answer its request's id back.
      const one = async (r: unknown) => ({ jsonrpc: '2.0', id: (r as { id?: unknown } | null)?.id ?? null, ...((await handle(JSON.stringify(r))) as object) });
      (Array.isArray(doc) ? Promise.all(doc.map(one)) : one(doc)).then(
        (out) => reply(200, out),
        (e: Error) => reply(500, { jsonrpc: '2.0', id: null, error: { code: -32603, message: e.message } }),
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 8545, opts.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://${opts.host ?? '127.0.0.1'}:${port}`, chain, server };
}
