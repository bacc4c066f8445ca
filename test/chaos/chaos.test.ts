// The short chaos run (npm run chaos -- --short) as part of npm test: every fault must end
// with nothing lost, nothing duplicated and no private request left behind.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { freshPostgres } from '../helpers/postgres.ts';
import { FAULTS, resultsTable, runFaults, SHORT } from './faults.ts';

const probe = await freshPostgres();
await probe.stop();
const haveRedisServer = spawnSync('redis-server', ['--version']).status === 0;
const bullWhy = !probe.url ? probe.why : !haveRedisServer ? 'no redis-server binary to start a Redis of its own' : null;
const embeddedOnly = (name: keyof typeof FAULTS) => name.startsWith('embedded');
const names = SHORT.filter((n) => bullWhy === null || embeddedOnly(n));
if (bullWhy) console.warn(`chaos: skipping the PostgreSQL/BullMQ faults: ${bullWhy}`);

describe('chaos (short run)', () => {
  it(`loses and duplicates nothing under ${names.join(', ')}`, async () => {
    const results = await runFaults(names, { n: 5, outageMs: 3000, echo: false });
    console.log(resultsTable(results));
    for (const r of results) {
      expect(r.notes.join(' '), r.fault).not.toContain('did not run');
      expect({ fault: r.fault, lost: r.lost, duplicated: r.duplicated, leftover: r.leftoverRequests }).toEqual({
        fault: r.fault,
        lost: 0,
        duplicated: 0,
        leftover: 0,
      });
      expect(r.accepted, r.fault).toBeGreaterThanOrEqual(5);
      expect(r.done + r.failed, r.fault).toBe(r.accepted);
    }
    // The inputs that kill their worker every time end failed, with a reason; nothing else fails.
    const poisoned = results.filter((r) => /kills its worker|every time for one input/.test(r.fault));
    for (const r of poisoned) expect(r.failed, r.fault).toBe(1);
    for (const r of results.filter((x) => !poisoned.includes(x))) expect(r.failed, r.fault).toBe(0);
  });
});
