// `npm run chaos [-- --short] [-- --only <fault>] [-- --echo]`: runs the faults of issue #11
// against processes this script starts (its own redis-server on a free port, API and worker
// processes, a fresh PostgreSQL database per fault, or a fresh embedded store), loopback
// only, and prints per fault: accepted, done, failed (with reasons), lost, duplicated.
// The full run writes its table into bench/RESULTS.md.
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FAULTS, resultsTable, runFaults, SHORT } from '../test/chaos/faults.ts';
import { REPO } from '../test/chaos/harness.ts';

const args = process.argv.slice(2);
const short = args.includes('--short');
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
const names = only ? [only as keyof typeof FAULTS] : short ? SHORT : (Object.keys(FAULTS) as (keyof typeof FAULTS)[]);
if (only && !(only in FAULTS)) {
  process.stderr.write(`unknown fault ${only}; one of: ${Object.keys(FAULTS).join(', ')}\n`);
  process.exit(2);
}
const opts = short ? { n: 5, outageMs: 3000 } : { n: 16, outageMs: 10_000 };
const results = await runFaults(names, { ...opts, echo: args.includes('--echo') }, (m) => process.stderr.write(`${m}\n`));
const section = [
  '<!-- chaos:start (written by npm run chaos) -->',
  `## Chaos (${new Date().toISOString()}, ${short ? 'short' : 'full'} run, ${opts.n} requests per fault, Redis down ${opts.outageMs / 1000} s; ${os.cpus().length} cores shared)`,
  '',
  resultsTable(results),
  '',
  'Every request carries an Idempotency-Key and is retried (network errors, 503) until it gets a 202; "accepted" counts distinct proof ids answered with a 202. "lost": accepted but not done or failed within 2 minutes. "duplicated": a key answered with two ids, or a proof record no key was answered with. "private requests left": proof_requests rows of proofs that ended. Redis runs with no persistence (no AOF, no RDB).',
  '<!-- chaos:end -->',
].join('\n');
process.stdout.write(`${section}\n`);
if (!only && !short) {
  const file = path.join(REPO, 'bench', 'RESULTS.md');
  const text = await readFile(file, 'utf8').catch(() => '');
  const re = /<!-- chaos:start[\s\S]*?<!-- chaos:end -->/;
  await writeFile(file, re.test(text) ? text.replace(re, section) : `${text.trimEnd()}\n\n${section}\n`);
}
const bad = results.some((r) => r.lost !== 0 || r.duplicated !== 0 || r.leftoverRequests !== 0);
process.exit(bad ? 1 : 0);
