import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import type { VerificationKey } from 'snarkjs';
import { attestOnChain, compileContracts, connect, type ContractSet, deployContracts, encodeCalls, serveDevChain, solidityProof } from '../../chain/index.ts';
import { isZkinferError } from '../../core/errors.ts';
import { bundleModel, compileModel, setupModel } from '../../pipeline/index.ts';
import { assertUsableVkey, vkeyHash } from '../../prover/setup.ts';
import { parseBundle } from '../../bundle/checks.ts';
import {
  intOption,
  progress,
  readJsonFile,
  modelOptionsFrom,
  type SettingsOptions,
  withPtau,
  withSettings,
  writeJsonFile,
  ptauOptionsFrom,
} from '../options.ts';

/** Exit code for a transaction the chain refused (a registry revert). */
const EXIT_REFUSED = 1;

interface ModelOptions extends SettingsOptions {
  ptau?: string;
  ptauSha256?: string;
  vkey?: string;
}

/**
 * The contracts for a model given as an ONNX file (compiled and set up, from cache after
 * the first run) or as a proof bundle of it (its model description, with the published
 * key from --vkey, else the key embedded in the bundle).
 */
async function contractsFor(target: string, o: ModelOptions): Promise<ContractSet> {
  if (target.endsWith('.json')) {
    const bundle = parseBundle(await readJsonFile(target, 'bundle'));
    const vkey = (o.vkey ? await readJsonFile(o.vkey, 'vkey') : bundle.verificationKey) as VerificationKey;
    assertUsableVkey(vkey);
    progress(`verification key ${vkeyHash(vkey)} (${o.vkey ? o.vkey : 'embedded in the bundle: compare with the published hash'})`);
    return compileContracts(bundle.model, vkey);
  }
  progress(`compiling ${target} (cached after the first run) ...`);
  const m = await compileModel(target, { ...(await modelOptionsFrom(target, o)), fidelity: false });
  const setup = await setupModel(m, ptauOptionsFrom(o));
  progress(`verification key ${setup.provenance.vkeySha256}`);
  return compileContracts(bundleModel(m), setup.vkey);
}

function withModel(cmd: Command): Command {
  return withPtau(withSettings(cmd.argument('<model>', 'ONNX file, or a proof bundle JSON of the model'))).option(
    '--vkey <file>',
    'with a bundle: the published verification key (default: the key embedded in the bundle)',
  );
}

function withRpc(cmd: Command): Command {
  return cmd
    .requiredOption('--rpc <url>', 'Ethereum JSON-RPC endpoint, e.g. http://127.0.0.1:8545')
    .option('--private-key <hex>', "key that signs transactions (default: ZKINFER_PRIVATE_KEY, else the node's first unlocked account)");
}

export function chainCommands(program: Command): void {
  withModel(
    program.command('export-verifier').description("write the model's Solidity verifier and attestation registry, with ABI and bytecode (solc, pinned)"),
  )
    .requiredOption('-o, --out-dir <dir>', 'where to write Groth16Verifier.sol, ZkinferRegistry.sol and contracts.json')
    .action(async (target: string, o: ModelOptions & { outDir: string }) => {
      const set = await contractsFor(target, o);
      await mkdir(o.outDir, { recursive: true });
      await writeFile(path.join(o.outDir, `${set.verifier.name}.sol`), set.verifier.source);
      await writeFile(path.join(o.outDir, `${set.registry.name}.sol`), set.registry.source);
      await writeJsonFile(path.join(o.outDir, 'contracts.json'), set);
      const size = (c: { bytecode: string }) => (c.bytecode.length - 2) / 2;
      process.stdout.write(
        JSON.stringify(
          { modelId: set.modelId, compiler: set.compiler, outDir: o.outDir, verifierBytes: size(set.verifier), registryBytes: size(set.registry) },
          null,
          2,
        ) + '\n',
      );
    });

  program
    .command('calldata')
    .description('print the arguments and transaction data of verifyProof / attest for a proof bundle')
    .argument('<bundle>', 'proof bundle JSON')
    .action(async (file: string) => {
      const b = parseBundle(await readJsonFile(file, 'bundle'));
      const args = solidityProof(b.proof, b.publicSignals);
      process.stdout.write(JSON.stringify({ modelId: b.model.id, ...args, calldata: encodeCalls(args) }, null, 2) + '\n');
    });

  withRpc(withModel(program.command('deploy').description("deploy the model's verifier and its attestation registry")))
    .option('-o, --output <file>', 'also write the deployment (addresses, transactions, gas) to this file')
    .action(async (target: string, o: ModelOptions & { rpc: string; privateKey?: string; output?: string }) => {
      const chain = await connect(o.rpc, { privateKey: o.privateKey ?? process.env.ZKINFER_PRIVATE_KEY });
      const set = await contractsFor(target, o);
      progress(`deploying to chain ${chain.chainId} ...`);
      const d = await deployContracts(await chain.signer(), set);
      if (o.output) await writeJsonFile(o.output, d);
      process.stdout.write(JSON.stringify(d, null, 2) + '\n');
    });

  withRpc(program.command('attest').description("record a proof in the model's attestation registry (exit 1 when the registry refuses it)"))
    .argument('<bundle>', 'proof bundle JSON')
    .requiredOption('--address <addr>', 'the registry address (deploy prints it)')
    .action(async (file: string, o: { rpc: string; privateKey?: string; address: string }) => {
      const bundle = parseBundle(await readJsonFile(file, 'bundle'));
      const chain = await connect(o.rpc, { privateKey: o.privateKey ?? process.env.ZKINFER_PRIVATE_KEY });
      try {
        const r = await attestOnChain(await chain.signer(), o.address, bundle);
        process.stdout.write(JSON.stringify({ attested: true, registry: o.address, ...r }, null, 2) + '\n');
      } catch (e) {
        if (!isZkinferError(e, 'CHAIN') || !e.message.startsWith('the registry reverted')) throw e;
        process.stdout.write(JSON.stringify({ attested: false, registry: o.address, reason: e.message }, null, 2) + '\n');
        process.exitCode = EXIT_REFUSED;
      }
    });

  program
    .command('devchain')
    .description('run a local development Ethereum node (in-process EVM, funded well-known test accounts) on JSON-RPC')
    .option('--port <n>', 'port (0 picks a free one)', intOption('--port'), 8545)
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .action(async (o: { port: number; host: string }) => {
      const { url, chain } = await serveDevChain({ port: o.port, host: o.host });
      process.stdout.write(JSON.stringify({ rpc: url, chainId: 31337, hardfork: chain.hardfork, accounts: chain.accounts }, null, 2) + '\n');
      progress('development chain: its account keys are public; Ctrl-C stops it');
      await new Promise<never>(() => {});
    });
}
