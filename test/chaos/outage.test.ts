// Outages that heal by themselves (issue #25), against processes this test starts: a database
// outage of a few seconds under queued proofs ends with every proof done (none failed), and
// reads and verification keep being served while Redis is down.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { freshPostgres } from '../helpers/postgres.ts';
import { diskFaultUnavailable } from './disk-fault.ts';
import { resultsTable, runFaults } from './faults.ts';

const probe = await freshPostgres();
await probe.stop();
const haveRedisServer = spawnSync('redis-server', ['--version']).status === 0;
const diskWhy = diskFaultUnavailable();
const why = !probe.url ? probe.why : !haveRedisServer ? 'no redis-server binary to start a Redis of its own' : null;

describe.skipIf(why !== null)('outages that heal by themselves', () => {
  it('PostgreSQL unreachable for 5 s under 8 queued proofs: every proof done, none failed; submits meanwhile get 503 + Retry-After', async () => {
    const [r] = await runFaults(['pgOutage'], { n: 8, outageMs: 5000, echo: process.env.CHAOS_ECHO === '1' });
    console.log(resultsTable([r]));
    expect(r.notes.join(' ')).not.toContain('did not run');
    expect({ accepted: r.accepted, done: r.done, failed: r.failed, lost: r.lost, duplicated: r.duplicated, leftover: r.leftoverRequests }).toEqual({
      accepted: 8,
      done: 8,
      failed: 0,
      lost: 0,
      duplicated: 0,
      leftover: 0,
    });
    expect(r.notes.join(' ')).toMatch(/database outage: 503 \(503 retry-after \d+\)/);
    expect(r.notes.join(' ')).toMatch(/\/readyz during it: 503 waiting for \[[^\]]*the database/);
  }, 600_000);

  it('the same with the embedded queue on PostgreSQL: every proof done, none failed', async () => {
    const [r] = await runFaults(['pgOutageEmbedded'], { n: 6, outageMs: 5000, echo: process.env.CHAOS_ECHO === '1' });
    console.log(resultsTable([r]));
    expect(r.notes.join(' ')).not.toContain('did not run');
    expect({ accepted: r.accepted, done: r.done, failed: r.failed, lost: r.lost, leftover: r.leftoverRequests }).toEqual({
      accepted: 6,
      done: 6,
      failed: 0,
      lost: 0,
      leftover: 0,
    });
    expect(r.notes.join(' ')).toMatch(/database outage: 503 \(503 retry-after \d+\)/);
  }, 600_000);

  it('past the outage budget the proofs fail naming the database; their keys sent again make them, same ids', async () => {
    const [r] = await runFaults(['pgOutagePastBudget'], { n: 4, outageMs: 8000, echo: process.env.CHAOS_ECHO === '1' });
    console.log(resultsTable([r]));
    const notes = r.notes.join(' ');
    expect(notes).not.toContain('did not run');
    expect(notes).toMatch(/past the budget: [1-9]\d* failed \([^)]*OUTAGE: the database stayed unavailable/);
    expect(notes).toContain('keys sent again: the same ids');
    expect({ accepted: r.accepted, done: r.done, failed: r.failed, lost: r.lost, duplicated: r.duplicated }).toEqual({
      accepted: 4,
      done: 4,
      failed: 0,
      lost: 0,
      duplicated: 0,
    });
  }, 600_000);

  it.skipIf(diskWhy !== null)(
    'embedded: the artifacts folder read-only for 10 s under queued proofs: every proof done, submits get 503',
    async () => {
      const [r] = await runFaults(['embeddedDiskFault'], { n: 6, outageMs: 10_000, echo: process.env.CHAOS_ECHO === '1' });
      console.log(resultsTable([r]));
      const notes = r.notes.join(' ');
      expect(notes).not.toContain('did not run');
      expect({ accepted: r.accepted, done: r.done, failed: r.failed, lost: r.lost, leftover: r.leftoverRequests }).toEqual({
        accepted: 6,
        done: 6,
        failed: 0,
        lost: 0,
        leftover: 0,
      });
      expect(notes).toMatch(/read-only: 503 retry-after \d+/);
      expect(notes).toMatch(/\/readyz during it: 503 store unwritable waiting for \[[^\]]*artifacts folder/);
    },
    600_000,
  );

  it('Redis down: GET /v1/proofs/:id, GET /v1/models/:id, the proof list and POST /v1/verify still answer 200', async () => {
    const [r] = await runFaults(['redisReads'], { n: 1, outageMs: 3000, echo: process.env.CHAOS_ECHO === '1' });
    console.log(resultsTable([r]));
    const notes = r.notes.join(' ');
    expect(notes).not.toContain('did not run');
    const m = /reads served during the Redis outage: (\d+)\/(\d+)/.exec(notes);
    expect(m, notes).not.toBeNull();
    expect(Number(m![2])).toBeGreaterThan(8);
    expect(Number(/of them verifications: (\d+)/.exec(notes)?.[1])).toBeGreaterThanOrEqual(1);
    expect(m![1]).toBe(m![2]);
    expect(notes).toMatch(/API error-level log lines during it: 0;/);
  }, 600_000);
});
