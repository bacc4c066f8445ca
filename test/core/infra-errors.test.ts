// Which errors are the infrastructure's (the job waits, no attempt spent) and which are the
// job's own (it fails): issue #25.
import { describe, expect, it } from 'vitest';
import { ZkinferError } from '../../src/core/errors.ts';
import {
  failedByInfrastructure,
  InfrastructureError,
  infrastructureOf,
  nextOutage,
  outageDelayMs,
  outageLogLine,
  outageReason,
} from '../../src/core/infra-errors.ts';

const errno = (code: string, message: string) => Object.assign(new Error(message), { code });

describe('infrastructure errors', () => {
  it('names the dependency of connection, database and disk errors', () => {
    expect(infrastructureOf(errno('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'))).toBe('database');
    expect(infrastructureOf(new Error('Connection terminated unexpectedly'))).toBe('database');
    expect(infrastructureOf(errno('57P01', 'terminating connection due to administrator command'))).toBe('database');
    expect(infrastructureOf(errno('08006', 'connection failure'))).toBe('database');
    expect(infrastructureOf(new Error("Stream isn't writeable and enableOfflineQueue options is false"))).toBe('redis');
    for (const code of ['EACCES', 'ENOSPC', 'EROFS', 'EIO']) expect(infrastructureOf(errno(code, `${code}: no, open 'artifacts/x'`))).toBe('disk');
    // Over IPC only the message is left: it still says what failed.
    expect(infrastructureOf(new Error("EACCES: permission denied, open 'artifacts/proofs/x.json'"))).toBe('disk');
    expect(infrastructureOf(new InfrastructureError('redis', 'down'))).toBe('redis');
    // A recursive mkdir on a read-only remount says ENOENT; a missing file to read is not the disk's fault.
    expect(infrastructureOf(Object.assign(errno('ENOENT', "ENOENT: no such file or directory, mkdir 'artifacts/proofs/x'"), { syscall: 'mkdir' }))).toBe(
      'disk',
    );
    expect(infrastructureOf(new Error("ENOENT: no such file or directory, mkdir 'artifacts/proofs/x'"))).toBe('disk');
    expect(infrastructureOf(Object.assign(errno('ENOENT', "ENOENT: no such file or directory, open 'x'"), { syscall: 'open' }))).toBeNull();
  });

  it('logs an outage by its dependency and code, the same line for every job', () => {
    const a = outageLogLine('disk', new Error("ENOENT: no such file or directory, mkdir 'artifacts/proofs/a'"));
    expect(a).toBe(outageLogLine('disk', new Error("ENOENT: no such file or directory, mkdir 'artifacts/proofs/b'")));
    expect(a).toBe('the artifacts folder (disk) unavailable (ENOENT): jobs wait, their attempts are not spent');
    expect(outageLogLine('database', errno('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'))).toContain('the database unavailable (ECONNREFUSED)');
  });

  it('leaves the job its own errors and unknown ones', () => {
    expect(infrastructureOf(new ZkinferError('INPUT_RANGE', 'fc1[9] does not fit 36 bits', 'fc1[9]'))).toBeNull();
    expect(infrastructureOf(new ZkinferError('MODEL_UNREADABLE', 'connect ECONNREFUSED in a model name'))).toBeNull();
    expect(infrastructureOf(new TypeError('x is undefined'))).toBeNull();
    expect(infrastructureOf(errno('23505', 'duplicate key value violates unique constraint'))).toBeNull();
  });

  it('waits 1 s doubling to 30 s, and spends the budget from the first error of an outage', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 50].map((n) => outageDelayMs(n))).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
    let o = nextOutage(undefined, 'database', 60_000, 0);
    expect(o).toMatchObject({ delayMs: 1000, exhausted: false, state: { since: 0, n: 1 } });
    o = nextOutage(o.state, 'database', 60_000, 1000);
    expect(o).toMatchObject({ delayMs: 2000, exhausted: false, state: { since: 0, n: 2 } });
    expect(nextOutage(o.state, 'database', 60_000, 60_000).exhausted).toBe(true);
    // Long after the last error: a new outage, a new budget.
    expect(nextOutage(o.state, 'database', 60_000, 10 * 60_000)).toMatchObject({ exhausted: false, state: { since: 10 * 60_000, n: 1 } });
  });

  it('marks the reason of a job failed past the budget, and recognises older connection failures', () => {
    const reason = outageReason('database', 900_000, new Error('connect ECONNREFUSED 127.0.0.1:5432'));
    expect(reason).toMatch(/^OUTAGE: the database stayed unavailable for longer than the outage budget \(900 s, OUTAGE_BUDGET_SECONDS\)/);
    expect(failedByInfrastructure(`the job failed for good: ${reason}`)).toBe(true);
    expect(failedByInfrastructure('the job failed for good: connect ECONNREFUSED 127.0.0.1:5432')).toBe(true);
    expect(failedByInfrastructure('INPUT_RANGE: fc1[9] does not fit 36 bits for this input')).toBe(false);
    expect(failedByInfrastructure('the worker process died (SIGKILL) while running it (taken 3 times, the limit)')).toBe(false);
    expect(failedByInfrastructure(null)).toBe(false);
  });
});
