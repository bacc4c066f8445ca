// Regenerates the development powers-of-tau test fixture:
//   npx tsx scripts/make-dev-ptau.ts 13 ptau/dev-13.ptau
// then update the pinned hash in src/prover/ptau.ts and ptau/README.md (the script prints it).
// The file is a function of the power alone (published secrets, no randomness), so
// rerunning it reproduces the same bytes.
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { generateDevPtau } from '../src/prover/dev-ptau.ts';

const power = Number(process.argv[2] ?? 13);
const out = process.argv[3] ?? `ptau/dev-${power}.ptau`;
await mkdir(path.dirname(out), { recursive: true });
const t0 = Date.now();
await generateDevPtau(power, out, (m) => console.error(`[${((Date.now() - t0) / 1000).toFixed(0)} s] ${m}`));
console.log(
  `${out} sha256 ${createHash('sha256')
    .update(await readFile(out))
    .digest('hex')} (${((Date.now() - t0) / 1000).toFixed(1)} s)`,
);
process.exit(0);
