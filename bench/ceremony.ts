// Ceremony benchmark: a file-based phase-2 ceremony (initial key, contributions, the
// coordinator's check of each, the beacon) on the loan example, and on a 2^16 model when a
// 2^16 development ptau is already cached under artifacts/ptau (generating one takes minutes).
//
//     node --import tsx bench/ceremony.ts        prints the RESULTS.md section
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { checkContribution, contribute, finalize, initCeremony } from '../src/ceremony/index.ts';
import { compileModel, pickPtau } from '../src/pipeline/index.ts';
import { requiredPower } from '../src/prover/ptau.ts';
import { artifactKindDir } from '../src/core/artifacts.ts';
import { REPO, SHARED } from './models.ts';

const MODELS = [
  { name: 'loan example', file: path.join(REPO, 'examples', 'loan', 'loan-model.onnx') },
  { name: 'ezkl/large_mlp', file: path.join(SHARED, 'ezkl', 'large_mlp', 'network.onnx') },
];
const CONTRIBUTIONS = 3;

const seconds = async (f: () => Promise<unknown>) => {
  const t0 = performance.now();
  await f();
  return (performance.now() - t0) / 1000;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

export async function ceremonyBench(): Promise<string> {
  const rows: string[] = [];
  for (const model of MODELS) {
    if (!existsSync(model.file)) {
      rows.push(`| ${model.name} | skipped: ${path.relative(REPO, model.file)} not found | | | | | | |`);
      continue;
    }
    const m = await compileModel(model.file, { fidelity: false });
    const power = requiredPower(m.compiled.constraints, m.compiled.nPubOut + m.compiled.nPubIn);
    const cachedPtau = path.join(artifactKindDir('ptau'), `dev-${power}.ptau`);
    if (power > 13 && !existsSync(cachedPtau)) {
      rows.push(
        `| ${model.name} | ${m.compiled.constraints} | 2^${power} | skipped: no 2^${power} development ptau under artifacts/ptau (\`npm run bench\` or a setup of this model generates it, several minutes) | | | | |`,
      );
      continue;
    }
    const ptau = await pickPtau(m);
    const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-bench-ceremony-'));
    try {
      let init = '';
      const initS = await seconds(async () => (init = (await initCeremony(m, ptau, dir)).zkey));
      const keys = [init];
      const contributeS: number[] = [];
      const checkS: number[] = [];
      for (let i = 1; i <= CONTRIBUTIONS; i++) {
        const next = path.join(dir, `c${i}.zkey`);
        contributeS.push(await seconds(() => contribute(keys.at(-1)!, next, `contributor ${i}`)));
        checkS.push(await seconds(() => checkContribution(keys.at(-1)!, next, m.compiled.r1cs, ptau.file)));
        keys.push(next);
      }
      const beaconS = await seconds(() => finalize(keys.at(-1)!, path.join(dir, 'final'), { beacon: 'ab'.repeat(32), iterationsExp: 10 }));
      const size = (await stat(keys.at(-1)!)).size;
      rows.push(
        `| ${model.name} | ${m.compiled.constraints} | 2^${ptau.power} | ${(size / 1024 / 1024).toFixed(2)} | ${initS.toFixed(1)} | ${median(contributeS).toFixed(2)} | ${median(checkS).toFixed(1)} | ${beaconS.toFixed(2)} |`,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  return [
    '## Phase-2 ceremony (file based: `zkinfer setup --ceremony`, `ceremony contribute`, `ceremony verify --base`, `ceremony finalize`)',
    '',
    '| model | constraints | ptau | zkey MB | initial key s | contribute s | check s | beacon s |',
    '|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    `"contribute" and "check" are medians of ${CONTRIBUTIONS} contributions in a row, in process (the CLI adds about 2 s of start-up). "check" is what a coordinator runs on each submitted key: chain comparison with the previous key, then \`zKey.verifyFromR1cs\` against the circuit and the ptau. "beacon" is 2^10 iterations, without the final verification. The zkey grows by about 400 bytes per contribution.`,
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write((await ceremonyBench()) + '\n');
  // snarkjs keeps worker threads alive.
  process.exit(0);
}
