// npm run bench [-- --compile-only] [-- --only <name substring, "service", "lists", "audit", "ceremony", "browser", "trees", "private", "explain", "startup", "native" or "ptau">]
// Runs each model in its own process and prints markdown tables; also writes bench/RESULTS.md.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { COMPILE_SET, PROVE_SET, REPO, type BenchModel } from './models.ts';
import { auditBench } from './audit.ts';
import { browserBench } from './browser.ts';
import { ceremonyBench } from './ceremony.ts';
import { listBench } from './list.ts';
import { devPtauBench } from './dev-ptau.ts';
import { serviceBench } from './service.ts';
import { treesBench } from './trees.ts';
import { privateBench } from './private.ts';
import { explainBench } from './explain.ts';
import { startupBench } from './startup.ts';
import { nativeBench } from './native.ts';

const run = promisify(execFile);
const args = process.argv.slice(2);
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
const compileOnly = args.includes('--compile-only');

const freshStore = await mkdtemp(path.join(os.tmpdir(), 'zkinfer-bench-'));
const sharedPtau = path.join(REPO, 'artifacts', 'ptau');
await mkdir(sharedPtau, { recursive: true });
await symlink(sharedPtau, path.join(freshStore, 'ptau'));
const available = (m: BenchModel) => (m.kind === 'synthetic' || m.build !== undefined || existsSync(m.file)) && (!only || m.name.includes(only));

async function measure(mode: 'compile' | 'prove', i: number): Promise<Record<string, unknown>> {
  const set = mode === 'compile' ? COMPILE_SET : PROVE_SET;
  process.stderr.write(`${mode}: ${set[i].name} ...\n`);
  try {
    // An empty artifact store, so compile and setup times are real, not cache hits
    // (development ptau files are shared: generating them is not what is measured).
    const env = { ...process.env, NODE_OPTIONS: '--max-old-space-size=8192', ZKINFER_ARTIFACTS: freshStore };
    const r = await run(process.execPath, ['--import', 'tsx', path.join(REPO, 'bench', 'one.ts'), mode, String(i)], { cwd: REPO, maxBuffer: 1 << 24, env });
    return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  } catch (e) {
    const stderr = (e as { stderr?: string }).stderr ?? '';
    // The table keeps one line; the reason goes to the console in full (an out-of-memory
    // crash says "FATAL ERROR", which no lowercase filter finds).
    process.stderr.write(`${set[i].name} failed:\n${stderr.trim().split('\n').slice(-20).join('\n')}\n`);
    const msg =
      (stderr || String(e))
        .trim()
        .split('\n')
        .filter((l) => /error/i.test(l))
        .slice(-1)[0] ?? String(e);
    return { name: set[i].name, error: msg.slice(0, 160) };
  }
}

const fmt = (v: unknown, digits = 0): string => (typeof v === 'number' ? v.toFixed(digits) : v === null || v === undefined ? '-' : String(v));

function table(head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

const lines: string[] = [
  `# zkinfer benchmark`,
  '',
  `${new Date().toISOString()}, ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}`,
  '',
];

const compiled = [];
for (let i = 0; i < COMPILE_SET.length; i++) if (available(COMPILE_SET[i])) compiled.push(await measure('compile', i));
lines.push('## Circuits (default settings: scale 2^10, 32-bit accumulators)', '');
lines.push(
  table(
    ['model', 'inputs', 'neurons', 'model constraints', 'total constraints', 'per neuron', 'compile s', 'fidelity inputs', 'max abs err', 'flip rate'],
    compiled.map((r) =>
      r.error
        ? [String(r.name), `error: ${r.error}`, '', '', '', '', '', '', '', '']
        : [
            String(r.name),
            fmt(r.inputs),
            fmt(r.neurons),
            fmt(r.modelConstraints),
            fmt(r.constraints),
            fmt(r.perNeuron, 1),
            fmt(r.compileS, 1),
            fmt(r.fidelityInputs),
            typeof r.maxAbsError === 'number' ? r.maxAbsError.toExponential(2) : '-',
            fmt(r.flipRate, 3),
          ],
    ),
  ),
  '',
  '"per neuron" excludes the input range checks and the input commitment; "total" includes them and the nonce. "compile s" is circom2 from an empty cache plus import and quantization. Errors are against onnxruntime (probability space for sigmoid/softmax heads) on the inputs named in "fidelity inputs" (the loan example: its 20 test applicants; others: seeded random inputs in [-1, 1]); "flip rate" is the share of decisions that differ.',
  '',
);

if (!compileOnly) {
  const proved = [];
  for (let i = 0; i < PROVE_SET.length; i++) if (available(PROVE_SET[i])) proved.push(await measure('prove', i));
  lines.push('## Proving ladder (warm = a long-lived prover; medians of 5)', '');
  lines.push(
    table(
      ['model', 'constraints', 'ptau', 'setup s', 'witness ms', 'prove cold ms', 'prove warm ms', 'verify ms', 'proof bytes', 'peak RSS MB'],
      proved.map((r) =>
        r.error
          ? [String(r.name), `error: ${r.error}`, '', '', '', '', '', '', '', '']
          : [
              String(r.name),
              fmt(r.constraints),
              String(r.ptau),
              fmt(r.setupS, 1),
              fmt(r.witnessMs, 1),
              fmt(r.proveColdMs),
              fmt(r.proveWarmMs),
              fmt(r.verifyMs, 1),
              fmt(r.proofBytes),
              fmt(r.peakRssMb),
            ],
      ),
    ),
    '',
    '"prove" includes the witness; "setup s" is phase 2 (new zkey, a contribution, a beacon) on an existing development ptau.',
    '',
    '## On-chain gas (EDR in-process EVM, latest L1 hardfork; solc 0.8.37, optimizer 200 runs, EVM paris)',
    '',
    table(
      ['model', 'public signals', 'verifyProof gas', 'attest gas', 'verifier deploy gas'],
      proved.filter((r) => !r.error).map((r) => [String(r.name), fmt(r.publicSignals), fmt(r.verifyGas), fmt(r.attestGas), fmt(r.verifierDeployGas)]),
    ),
    '',
    '"verifyProof gas" is a transaction calling the verifier (eth_estimateGas: 21,000 intrinsic and calldata included; target <= 250k). "attest" is a first attestation in the registry: verifyProof plus storing the input commitment, the outputs, the sender and the block.',
    '',
  );
}
if (!compileOnly && (!only || 'service'.includes(only))) {
  process.stderr.write('service ...\n');
  lines.push(await serviceBench(), '');
}
if (!compileOnly && (!only || 'lists'.includes(only))) {
  process.stderr.write('lists ...\n');
  lines.push(await listBench(), '');
}
if (!compileOnly && (!only || 'audit'.includes(only))) {
  process.stderr.write('audit ...\n');
  lines.push(await auditBench(), '');
}
if (!compileOnly && (!only || 'browser'.includes(only))) {
  process.stderr.write('browser ...\n');
  lines.push(await browserBench(), '');
}
if (!compileOnly && (!only || 'ceremony'.includes(only))) {
  process.stderr.write('ceremony ...\n');
  lines.push(await ceremonyBench(), '');
}
if (!compileOnly && (!only || 'trees'.includes(only))) {
  process.stderr.write('trees ...\n');
  lines.push(await treesBench(freshStore), '');
}
if (!compileOnly && (!only || 'private'.includes(only))) {
  process.stderr.write('private models ...\n');
  lines.push(await privateBench(freshStore), '');
}
if (!compileOnly && (!only || 'explain'.includes(only))) {
  process.stderr.write('reasons and fairness ...\n');
  lines.push(await explainBench(freshStore), '');
}
if (!compileOnly && (!only || 'startup'.includes(only))) {
  process.stderr.write('startup ...\n');
  lines.push(await startupBench(), '');
}
if (!compileOnly && (!only || 'native'.includes(only))) {
  process.stderr.write('native prover ...\n');
  lines.push(await nativeBench(), '');
}
if (!compileOnly && (!only || 'ptau'.includes(only))) {
  process.stderr.write('development ptau ...\n');
  lines.push(await devPtauBench(), '');
}
// The chaos section is written by `npm run chaos`: keep it.
const resultsFile = path.join(REPO, 'bench', 'RESULTS.md');
const chaos = /<!-- chaos:start[\s\S]*?<!-- chaos:end -->/.exec(existsSync(resultsFile) ? await readFile(resultsFile, 'utf8') : '')?.[0];
if (chaos) lines.push(chaos, '');
const text = lines.join('\n');
process.stdout.write(text + '\n');
if (!only) await writeFile(resultsFile, text + '\n');
// The tree or private-model section alone replaces its own part of the file.
if ((only === 'trees' || only === 'private' || only === 'explain' || only === 'startup' || only === 'native') && existsSync(resultsFile)) {
  const section = new RegExp(`<!-- ${only}:start[\\s\\S]*?<!-- ${only}:end -->`).exec(text)?.[0];
  const old = await readFile(resultsFile, 'utf8');
  const marked = new RegExp(`<!-- ${only}:start[\\s\\S]*?<!-- ${only}:end -->`);
  if (section)
    await writeFile(resultsFile, marked.test(old) ? old.replace(marked, () => section) : old.replace(/(<!-- chaos:start)|$/, (m) => `${section}\n\n${m}`));
}
await rm(freshStore, { recursive: true, force: true });
// snarkjs (proving in this process for the browser section) keeps worker threads alive.
process.exit(0);
