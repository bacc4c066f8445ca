// Development powers of tau: generation time of the files zkinfer makes for circuits too
// large for the bundled 2^13 one (src/prover/dev-ptau.ts). Run by `npm run bench`.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateDevPtau } from '../src/prover/dev-ptau.ts';

const POWERS = [13, 16];

export async function devPtauBench(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-bench-ptau-'));
  const rows: string[] = [];
  try {
    for (const power of POWERS) {
      const file = path.join(dir, `dev-${power}.ptau`);
      const t0 = performance.now();
      await generateDevPtau(power, file);
      const s = (performance.now() - t0) / 1000;
      rows.push(`| 2^${power} | ${s.toFixed(1)} | ${((await stat(file)).size / 2 ** 20).toFixed(0)} |`);
      await rm(file);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return [
    '## Development powers of tau (generated once per size, cached under artifacts/ptau)',
    '',
    '| powers | generate s | file MB |',
    '|---|---|---|',
    ...rows,
    '',
    'Points computed directly from the published development secrets (fixed-base batch multiplication, one thread), phase 2 Lagrange sections included. The earlier generator (snarkjs new accumulator, a contribution, a beacon, prepare phase 2) took about 23 minutes for 2^16 on this machine.',
  ].join('\n');
}
