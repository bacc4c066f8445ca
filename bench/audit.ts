// Audit benchmark: `zkinfer audit` (recompile the model in an empty artifact store, check
// the zkey against the r1cs and ptau, compare the key) on the loan example and large_mlp.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { compileModel, setupModel } from '../src/pipeline/index.ts';
import { BUNDLED_DEV_PTAU } from '../src/prover/ptau.ts';
import { REPO, SHARED } from './models.ts';

const run = promisify(execFile);

const MODELS = [
  { name: 'loan example', file: path.join(REPO, 'examples', 'loan', 'loan-model.onnx') },
  { name: 'ezkl/large_mlp', file: path.join(SHARED, 'ezkl', 'large_mlp', 'network.onnx') },
];

export async function auditBench(): Promise<string> {
  const rows: string[] = [];
  for (const model of MODELS) {
    if (!existsSync(model.file)) {
      rows.push(`| ${model.name} | skipped: ${path.relative(REPO, model.file)} not found | | | |`);
      continue;
    }
    const m = await compileModel(model.file, { fidelity: false });
    const s = await setupModel(m);
    const ptau =
      s.provenance.ptau.name === 'zkinfer-dev-13'
        ? BUNDLED_DEV_PTAU.file
        : path.join(REPO, 'artifacts', 'ptau', `${s.provenance.ptau.name.replace('zkinfer-', '')}.ptau`);
    const store = await mkdtemp(path.join(tmpdir(), 'zkinfer-bench-audit-'));
    const t0 = performance.now();
    const r = await run(
      process.execPath,
      ['--import', 'tsx', path.join(REPO, 'src', 'cli', 'main.ts'), 'audit', model.file, '--vkey', s.vkeyFile, '--zkey', s.zkey, '--ptau', ptau, '--json'],
      {
        cwd: REPO,
        maxBuffer: 1 << 24,
        env: { ...process.env, ZKINFER_ARTIFACTS: store },
      },
    ).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '{}' }));
    const wallS = (performance.now() - t0) / 1000;
    await rm(store, { recursive: true, force: true });
    const report = JSON.parse(r.stdout) as { ok?: boolean; constraints?: number; auditMs?: number };
    rows.push(`| ${model.name} | ${report.constraints ?? '-'} | 2^${s.provenance.ptau.power} | ${report.ok ? 'pass' : 'FAIL'} | ${wallS.toFixed(1)} |`);
  }
  return [
    '## Key audit (`zkinfer audit`)',
    '',
    '| model | constraints | ptau | result | audit s |',
    '|---|---|---|---|---|',
    ...rows,
    '',
    '"audit s" is the whole command from an empty artifact store: recompiling the circuit with circom2, `zKey.verifyFromR1cs` (a new zkey from the r1cs and the ptau, then every contribution and section compared), and exporting and comparing the key.',
  ].join('\n');
}
