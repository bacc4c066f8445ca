import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import {
  advanceRecord,
  beaconHex,
  CEREMONY_FILE,
  type CeremonyRecord,
  checkContribution,
  type Contribution,
  contribute,
  finalize,
  readChain,
  verifyCeremonyKey,
} from '../../ceremony/index.ts';
import { isZkinferError, ZkinferError } from '../../core/errors.ts';
import { contributeOverRest } from '../../ceremony/remote.ts';
import { compileModel } from '../../pipeline/index.ts';
import { phase1OfFile } from '../../prover/phase1.ts';
import { identifyPtau } from '../../prover/ptau.ts';
import { judgeSetup } from '../../verifier/trust.ts';
import {
  intOption,
  modelOptionsFrom,
  progress,
  type SettingsOptions,
  type TrustPolicyOptions,
  withSettings,
  withTrustedHashes,
  withTrustPolicy,
} from '../options.ts';
import { EXIT_INVALID } from './verify.ts';

/** The ceremony.json beside a key, when there is one. */
async function recordBeside(zkey: string): Promise<CeremonyRecord | null> {
  try {
    return JSON.parse(await readFile(path.join(path.dirname(zkey), CEREMONY_FILE), 'utf8')) as CeremonyRecord;
  } catch {
    return null;
  }
}

function chainLines(chain: Contribution[]): string[] {
  if (!chain.length) return ['  (no contribution yet: anyone holding this key could forge proofs)'];
  return chain.flatMap((c) => [
    `  #${c.index} ${c.name || '(unnamed)'}: ${c.hash}`,
    ...(c.beacon ? [`      beacon ${c.beacon.hash}, 2^${c.beacon.iterationsExp} iterations`] : []),
  ]);
}

/** A refused contribution is an answer (exit 1), not unusable input. */
async function refusedIsInvalid(run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (e) {
    if (!isZkinferError(e, 'CEREMONY')) throw e;
    process.stderr.write(`REFUSED: ${e.message}\n`);
    process.exitCode = EXIT_INVALID;
  }
}

export function ceremonyCommands(program: Command): void {
  const ceremony = program
    .command('ceremony')
    .description('a file-based phase-2 ceremony: start it with `zkinfer setup --ceremony DIR`, then contribute, verify, finalize');

  ceremony
    .command('contribute')
    .description(
      'add your contribution (fresh local entropy, never stored) to a ceremony key; prints the contribution hash to ' +
        'publish. With files (--in, --out) it works offline; with --url and --model it downloads the latest key from the ' +
        'service, contributes, and uploads it (retrying on a newer key when another contribution came first)',
    )
    .option('--in <zkey>', 'the current ceremony key (file mode)')
    .option('--out <zkey>', 'where to write the key with your contribution (file mode; a ceremony.json beside --in is carried along)')
    .option('--url <url>', 'the zkinfer service (REST mode)')
    .option('--model <id>', 'the model id whose ceremony to contribute to (REST mode)')
    .option('--api-key <key>', 'API key (contributor, or the owning prover); default: env ZKINFER_API_KEY')
    .option('--tenant <tenant>', "the tenant whose model it is (an admin key's choice when several registered it)")
    .option('--attempts <n>', 'REST mode: how many times to start over on a newer key after losing a race (409)', intOption('--attempts'), 5)
    .requiredOption('--name <name>', 'your name as you will publish it (at most 64 bytes)')
    .action((o: { in?: string; out?: string; url?: string; model?: string; apiKey?: string; tenant?: string; attempts: number; name: string }) =>
      refusedIsInvalid(async () => {
        if (o.url || o.model) {
          if (!o.url || !o.model) throw new ZkinferError('SETTINGS', 'REST mode needs both --url and --model', o.url ? 'model' : 'url');
          const r = await contributeOverRest({
            url: o.url,
            model: o.model,
            apiKey: o.apiKey ?? process.env.ZKINFER_API_KEY,
            tenant: o.tenant,
            name: o.name,
            attempts: o.attempts,
            log: progress,
          });
          progress('publish your contribution hash (it is listed by GET /v1/models/{id}/ceremony, `zkinfer ceremony verify` and `zkinfer audit`):');
          process.stdout.write(JSON.stringify(r, null, 2) + '\n');
          return;
        }
        if (!o.in || !o.out) throw new ZkinferError('SETTINGS', 'give --in and --out (files), or --url and --model (a service)', o.in ? 'out' : 'in');
        const inZkey = o.in;
        const outZkey = o.out;
        progress(`contributing to ${inZkey} as "${o.name}" ...`);
        const r = await contribute(inZkey, outZkey, o.name);
        const record = await advanceRecord(await recordBeside(inZkey), outZkey);
        progress('publish your contribution hash (it is listed by `zkinfer ceremony verify` and `zkinfer audit`):');
        process.stdout.write(
          JSON.stringify(
            { out: outZkey, name: o.name, contributionHash: r.hash, index: r.chain.contributions.length, zkeySha256: r.zkeySha256, ceremony: record },
            null,
            2,
          ) + '\n',
        );
      }),
    );

  const verifyCmd = withSettings(
    ceremony
      .command('verify')
      .description(
        "check a ceremony key against the model's recompiled circuit and the ptau, link by link, and list its " +
          'contributions; exit 0 valid, 1 refused, 2 unusable input',
      )
      .argument('<zkey>', 'the ceremony key to check')
      .requiredOption('--model <onnx>', 'the ONNX model the ceremony is for (recompiled here)')
      .requiredOption('--ptau <file>', 'the powers-of-tau file the ceremony started from')
      .option('--base <zkey>', 'the previous ceremony key: also check that this key adds exactly one contribution to it (or the beacon that finalized it)')
      .option('--json', 'print the result as JSON'),
  );
  withTrustPolicy(withTrustedHashes(verifyCmd)).action(
    (
      zkey: string,
      o: SettingsOptions &
        TrustPolicyOptions & { model: string; ptau: string; base?: string; json?: boolean; trustPtau: string[]; independentContribution: string[] },
    ) =>
      refusedIsInvalid(async () => {
        const ptau = await identifyPtau(o.ptau);
        // A key on a development ptau proves nothing whatever its phase 2: every answer says so
        // first, and --require-trusted-setup refuses it (as setup --ceremony accepts it, labelled).
        const development = ptau.kind === 'development';
        progress(`compiling ${o.model} ...`);
        const m = await compileModel(o.model, { ...(await modelOptionsFrom(o.model, o)), fidelity: false });
        progress(`checking ${zkey} against the circuit (${m.compiled.constraints} constraints) and ${ptau.name} ...`);
        const r = o.base
          ? { ok: true, reason: null, ...(await checkContribution(o.base, zkey, m.compiled.r1cs, o.ptau, { allowBeacon: true })) }
          : await verifyCeremonyKey(zkey, m.compiled.r1cs, o.ptau);
        const finalized = r.chain.contributions.at(-1)?.beacon !== undefined;
        // Phase 1 from the ptau file's hash; phase 2 independence only from hashes the checker knows.
        const ordinary = r.chain.contributions.filter((c) => !c.beacon);
        const known = new Set(o.independentContribution);
        const trust = judgeSetup(
          phase1OfFile(ptau, { trustedHashes: o.trustPtau }),
          { contributions: r.ok ? ordinary.length : null, independent: r.ok ? ordinary.filter((c) => known.has(c.hash)).length : null },
          { requireTrustedSetup: o.requireTrustedSetup, minIndependentContributions: o.minIndependentContributions },
        );
        const refused = r.ok && trust.refusals.length > 0;
        const out = {
          valid: r.ok && !refused,
          reason: r.reason ?? (refused ? trust.refusals.join('; ') : null),
          development,
          modelId: m.modelId,
          commitment: m.modelCommitment.toString(),
          ptau,
          trust,
          finalized,
          csHash: r.chain.csHash,
          chain: r.chain.contributions,
        };
        if (o.json) process.stdout.write(JSON.stringify(out, null, 2) + '\n');
        else {
          const lines = [
            ...(refused ? [`REFUSED BY THE TRUST POLICY: ${trust.refusals.join('; ')}`] : []),
            // One verdict: a key the trust policy refuses is not called VALID on the next line.
            r.ok
              ? `${refused ? 'INVALID under the trust policy' : development ? 'VALID (DEVELOPMENT ONLY)' : 'VALID'}: this key is the model's ` +
                `circuit on ${ptau.name}, through ${r.chain.contributions.length} verified contribution(s)` +
                `${o.base ? ', exactly one more than the base' : ''}${refused ? ', but its setup is refused' : ''}`
              : `INVALID: ${r.reason}`,
            trust.summary,
            `phase 1 (from the ptau file): ${trust.phase1.label}`,
            `model ${m.modelId}, commitment ${out.commitment}`,
            'contributions (each contributor finds their published hash here):',
            ...chainLines(r.chain.contributions),
            finalized ? 'finalized with a public beacon' : 'not finalized: `zkinfer ceremony finalize` applies the public beacon',
          ];
          process.stdout.write(lines.join('\n') + '\n');
        }
        if (!r.ok || refused) process.exitCode = EXIT_INVALID;
      }),
  );

  withSettings(
    ceremony
      .command('finalize')
      .description('close a ceremony with a public beacon; writes circuit_final.zkey and vkey.json and checks them')
      .requiredOption('--in <zkey>', 'the last contributed key')
      .requiredOption('--beacon <hex>', 'public randomness fixed in advance (e.g. a future block hash), hex, 0x allowed')
      .requiredOption('--iterations <n>', 'beacon hash iterations as an exponent: 2^n, 10 to 63', intOption('--iterations'))
      .requiredOption('-o, --out-dir <dir>', 'where to write circuit_final.zkey, vkey.json and ceremony.json')
      .option('--name <name>', 'the beacon contribution name', 'final beacon')
      .option('--model <onnx>', 'with --ptau: also verify the final key against the recompiled circuit')
      .option('--ptau <file>', 'the ptau file the ceremony started from'),
  ).action((o: SettingsOptions & { in: string; beacon: string; iterations: number; outDir: string; name: string; model?: string; ptau?: string }) =>
    refusedIsInvalid(async () => {
      // A beacon that is not hex is a usage error, found before any compile.
      beaconHex(o.beacon);
      const m = o.model && o.ptau ? await compileModel(o.model, { ...(await modelOptionsFrom(o.model, o)), fidelity: false }) : null;
      progress(`applying the beacon (2^${o.iterations} iterations) to ${o.in} ...`);
      const r = await finalize(o.in, o.outDir, { beacon: o.beacon, iterationsExp: o.iterations, name: o.name, r1cs: m?.compiled.r1cs, ptau: o.ptau });
      const record = await advanceRecord(await recordBeside(o.in), r.zkey, { vkey: path.basename(r.vkeyFile), vkeySha256: r.vkeySha256 });
      if (!r.verified) progress('the final key was not checked against the circuit: run `zkinfer ceremony verify` (or pass --model and --ptau)');
      process.stdout.write(
        JSON.stringify(
          {
            zkey: r.zkey,
            vkey: r.vkeyFile,
            vkeyHash: r.vkeySha256,
            beaconHash: r.hash,
            verified: r.verified?.ok ?? null,
            ceremony: record,
            chain: r.chain.contributions,
          },
          null,
          2,
        ) + '\n',
      );
    }),
  );

  ceremony
    .command('chain')
    .description('list the contributions a key records (read from the file, not verified: `ceremony verify` checks them)')
    .argument('<zkey>', 'the ceremony key (.zkey) whose contribution list to print')
    .action(async (zkey: string) => {
      const c = await readChain(zkey);
      process.stdout.write([`NOT VERIFIED: the contributions ${zkey} records`, ...chainLines(c.contributions)].join('\n') + '\n');
    });
}
