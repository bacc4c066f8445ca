// The faults of issue #11, each run against its own stack (a fresh PostgreSQL database and
// its own redis-server on a free port, or a fresh embedded store), with a tally of what
// became of every accepted request.
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import {
  type FaultResult,
  http,
  Ledger,
  type Proc,
  PROVER_KEY,
  readyModel,
  settle,
  sleep,
  startApi,
  startRedis,
  startWorker,
  submit,
  waitRedis,
} from './harness.ts';
import {
  applicant,
  bullStack,
  burst,
  embeddedStack,
  type Fault,
  type FaultOptions,
  leftoverEmbedded,
  leftoverPg,
  readyz,
  resend,
  someProving,
  until,
} from './stacks.ts';
import { OUTAGE_FAULTS } from './outage-faults.ts';

export type { FaultOptions } from './stacks.ts';

/** Redis killed (-9) while workers are busy, down for a while, restarted empty. */
export const redisKillBusy: Fault = async (o) => {
  const s = await bullStack(o.echo);
  const api = await startApi(s);
  const workers = [startWorker(s, 'worker-1'), startWorker(s, 'worker-2')];
  const notes: string[] = [];
  try {
    const modelId = await readyModel(s.base);
    const ledger = new Ledger();
    const input = await applicant();
    const b = burst(s, ledger, modelId, o.n, input);
    await until(someProving(s.base), 30_000);
    s.redis.kill('SIGKILL');
    await s.redis.exited;
    const linesBefore = workers.reduce((a, w) => a + w.lines.length, 0);
    // Submissions during the outage: a 503 at once, retried until Redis is back.
    const during = burst(s, ledger, modelId, Math.ceil(o.n / 4), input);
    const downReady = (await until(async () => (await readyz(s.base)) === 503, 5000)) ? 503 : await readyz(s.base);
    // A worker asked to stop during the outage must stop (at the latest after SHUTDOWN_TIMEOUT_MS).
    const t0 = Date.now();
    workers[1].kill('SIGTERM');
    const exit = await Promise.race([workers[1].exited, sleep(30_000).then(() => null)]);
    notes.push(
      `a worker sent SIGTERM during the outage ${exit ? `exited in ${((Date.now() - t0) / 1000).toFixed(1)} s (${exit.code ?? exit.signal})` : 'did not exit in 30 s'}`,
    );
    await sleep(Math.max(0, o.outageMs - (Date.now() - t0)));
    const linesDuring = workers.reduce((a, w) => a + w.lines.length, 0) - linesBefore;
    s.redis = startRedis(s.redisPort);
    await waitRedis(s.redisPort);
    const t1 = Date.now();
    workers.push(startWorker(s, 'worker-3'));
    await Promise.all([b.all, during.all]);
    const backReady = await until(async () => (await readyz(s.base)) === 200, 30_000, 200);
    notes.push(
      `/readyz while Redis was down: ${downReady}; ready again ${backReady ? `${((Date.now() - t1) / 1000).toFixed(1)} s after Redis came back` : 'never (30 s)'}`,
      `worker log lines during the ${o.outageMs / 1000} s outage: ${linesDuring}`,
      `503s answered to submissions during the outage: ${ledger.unavailable}`,
    );
    const r = await settle(s.base, ledger, 120_000, () => leftoverPg(s.pgUrl));
    // Idle workers too: after this outage they must take new work by themselves.
    const ledger2 = new Ledger();
    await burst(s, ledger2, modelId, 2, input).all;
    const r2 = await settle(s.base, ledger2, 60_000, async () => 0);
    notes.push(`after the outage, idle workers proved ${r2.done} of ${r2.accepted} new requests`, handedAgain(api));
    return { fault: 'Redis kill -9 with busy workers (no persistence), restarted empty', ...r, lost: r.lost + r2.lost, notes };
  } finally {
    await Promise.all([api.stop(), ...workers.map((w) => w.stop())]);
    await s.redis.stop('SIGKILL');
    await s.stopPg();
  }
};

/** What the API's reconciler reports having done (from its log). */
function handedAgain(...apis: Proc[]): string {
  let handed = 0;
  let failed = 0;
  for (const a of apis) {
    for (const l of a.lines) {
      const m = /reconciler: (\d+) job\(s\) handed to the queue again, (\d+) final failure/.exec(l);
      if (m) {
        handed += Number(m[1]);
        failed += Number(m[2]);
      }
    }
  }
  return `reconciler: ${handed} job(s) handed to the queue again, ${failed} final failure(s) recorded`;
}

/** The API killed (-9) in the middle of a burst of keyed submissions, restarted at once. */
export const apiKillBurst: Fault = async (o) => {
  const s = await bullStack(o.echo);
  const first = await startApi(s);
  let api = first;
  const worker = startWorker(s);
  try {
    const modelId = await readyModel(s.base);
    const ledger = new Ledger();
    const input = await applicant();
    const b = burst(s, ledger, modelId, o.n, input);
    await until(async () => ledger.accepted.size >= Math.ceil(o.n / 3), 30_000, 5);
    api.kill('SIGKILL');
    await api.exited;
    api = await startApi(s, 'api-2');
    await b.all;
    await resend(s, ledger, modelId, b.keys, input);
    const r = await settle(s.base, ledger, 120_000, () => leftoverPg(s.pgUrl));
    return {
      fault: 'API kill -9 during a burst (BullMQ), keys retried and sent again',
      ...r,
      notes: [`503s and resets seen by clients while it restarted: ${ledger.unavailable} / ${ledger.resets}`, handedAgain(first, api)],
    };
  } finally {
    await Promise.all([api.stop(), worker.stop()]);
    await s.redis.stop('SIGKILL');
    await s.stopPg();
  }
};

/** The API sent SIGTERM with submissions in flight: they are answered, not reset. */
export const apiSigterm: Fault = async (o) => {
  const s = await bullStack(o.echo);
  let api = await startApi(s);
  const worker = startWorker(s);
  try {
    const modelId = await readyModel(s.base);
    const ledger = new Ledger();
    const input = await applicant();
    const b = burst(s, ledger, modelId, o.n, input);
    await until(async () => ledger.accepted.size >= 1, 30_000, 5);
    api.kill('SIGTERM');
    const exit = await api.exited;
    api = await startApi(s, 'api-2');
    await b.all;
    const r = await settle(s.base, ledger, 120_000, () => leftoverPg(s.pgUrl));
    return {
      fault: 'API SIGTERM with submissions in flight',
      ...r,
      notes: [`exit: ${exit.code ?? exit.signal}; connection resets seen by clients: ${ledger.resets}; 503s: ${ledger.unavailable}`],
    };
  } finally {
    await Promise.all([api.stop(), worker.stop()]);
    await s.redis.stop('SIGKILL');
    await s.stopPg();
  }
};

/**
 * An input whose worker dies every time it runs it (killed -9 whenever it starts proving
 * that one): BullMQ fails it as stalled too often; its record must say failed, with why.
 */
export const poisonBull: Fault = async (o) => {
  const s = await bullStack(o.echo);
  const api = await startApi(s);
  let worker = startWorker(s);
  let kills = 0;
  try {
    const modelId = await readyModel(s.base);
    const ledger = new Ledger();
    const input = await applicant();
    const deadline = Date.now() + 60_000;
    const poison = await submit(s, ledger, modelId, randomUUID(), input, deadline);
    const others = burst(s, ledger, modelId, o.n - 1, input);
    let lastSeen = '';
    for (const end = Date.now() + 90_000; Date.now() < end;) {
      const p = (await http(s.base, 'GET', `/v1/proofs/${poison}`, PROVER_KEY).catch(() => null))?.body;
      if (p && (p.status === 'done' || p.status === 'failed')) break;
      if (p?.status === 'proving' && p.updatedAt !== lastSeen) {
        lastSeen = p.updatedAt;
        worker.kill('SIGKILL');
        await worker.exited;
        kills++;
        worker = startWorker(s, `worker-${kills + 1}`);
      }
      await sleep(20);
    }
    await others.all;
    const r = await settle(s.base, ledger, 120_000, () => leftoverPg(s.pgUrl));
    return {
      fault: 'an input that kills its worker every time (BullMQ)',
      ...r,
      notes: [`worker killed ${kills} times on it; expected: it fails, the rest are done`],
    };
  } finally {
    await Promise.all([api.stop(), worker.stop()]);
    await s.redis.stop('SIGKILL');
    await s.stopPg();
  }
};

/** Embedded mode: the server killed (-9) in a burst; after a restart every job resumes and keys keep their ids. */
export const embeddedKill: Fault = async (o) => {
  const s = await embeddedStack(o.echo);
  let api = await startApi(s);
  try {
    const modelId = await readyModel(s.base);
    const ledger = new Ledger();
    const input = await applicant();
    const b = burst(s, ledger, modelId, o.n, input);
    await until(async () => ledger.accepted.size >= Math.ceil(o.n / 2), 30_000, 5);
    await until(someProving(s.base), 10_000, 10);
    api.kill('SIGKILL');
    await api.exited;
    api = await startApi(s, 'api-2');
    await b.all;
    await resend(s, ledger, modelId, b.keys, input);
    const r = await settle(s.base, ledger, 120_000, async () => 0);
    await api.stop();
    return { fault: 'embedded: server kill -9 mid-burst, restarted; keys sent again', ...r, leftoverRequests: await leftoverEmbedded(s.dbDir), notes: [] };
  } finally {
    await api.stop();
    await rm(path.dirname(s.dbDir), { recursive: true, force: true });
  }
};

/** Embedded mode: SIGTERM while jobs are queued and running, then a restart. */
export const embeddedSigterm: Fault = async (o) => {
  const s = await embeddedStack(o.echo);
  let api = await startApi(s);
  try {
    const modelId = await readyModel(s.base);
    const ledger = new Ledger();
    const input = await applicant();
    await burst(s, ledger, modelId, o.n, input).all;
    await until(someProving(s.base), 10_000, 10);
    api.kill('SIGTERM');
    const exit = await api.exited;
    api = await startApi(s, 'api-2');
    const r = await settle(s.base, ledger, 120_000, async () => 0);
    await api.stop();
    return {
      fault: 'embedded: server SIGTERM with jobs queued and running, restarted',
      ...r,
      leftoverRequests: await leftoverEmbedded(s.dbDir),
      notes: [`exit: ${exit.code ?? exit.signal}; resets: ${ledger.resets}`],
    };
  } finally {
    await api.stop();
    await rm(path.dirname(s.dbDir), { recursive: true, force: true });
  }
};

/** Embedded mode: the worker process killed (-9) mid-proof, once, and every time for one input. */
export const embeddedWorkerKill: Fault = async (o) => {
  const s = await embeddedStack(o.echo);
  const api = await startApi(s);
  let kills = 0;
  try {
    const modelId = await readyModel(s.base);
    const ledger = new Ledger();
    const input = await applicant();
    const deadline = Date.now() + 60_000;
    const poison = await submit(s, ledger, modelId, randomUUID(), input, deadline);
    const others = burst(s, ledger, modelId, o.n - 1, input);
    let lastSeen = '';
    for (const end = Date.now() + 90_000; Date.now() < end;) {
      const p = (await http(s.base, 'GET', `/v1/proofs/${poison}`, PROVER_KEY).catch(() => null))?.body;
      if (p && (p.status === 'done' || p.status === 'failed')) break;
      if (p?.status === 'proving' && p.updatedAt !== lastSeen) {
        lastSeen = p.updatedAt;
        for (const pid of await api.childPids('local-worker')) {
          process.kill(pid, 'SIGKILL');
          kills++;
        }
      }
      await sleep(20);
    }
    await others.all;
    const r = await settle(s.base, ledger, 120_000, async () => 0);
    await api.stop();
    return {
      fault: 'embedded: worker process kill -9 mid-proof (every time for one input)',
      ...r,
      leftoverRequests: await leftoverEmbedded(s.dbDir),
      notes: [`worker killed ${kills} times on one input; expected: it fails after 3 takes, the rest are done`],
    };
  } finally {
    await api.stop();
    await rm(path.dirname(s.dbDir), { recursive: true, force: true });
  }
};

export const FAULTS = {
  redisKillBusy,
  apiKillBurst,
  apiSigterm,
  poisonBull,
  embeddedKill,
  embeddedSigterm,
  embeddedWorkerKill,
  ...OUTAGE_FAULTS,
} satisfies Record<string, Fault>;
export const SHORT: (keyof typeof FAULTS)[] = ['redisKillBusy', 'apiKillBurst', 'poisonBull', 'embeddedKill', 'embeddedWorkerKill'];

/** Runs the faults one after another and returns their tallies. */
export async function runFaults(names: (keyof typeof FAULTS)[], o: FaultOptions, log: (m: string) => void = () => {}): Promise<FaultResult[]> {
  const out: FaultResult[] = [];
  for (const name of names) {
    const t0 = Date.now();
    log(`chaos: ${name} ...`);
    try {
      out.push({ ...(await FAULTS[name](o)), seconds: (Date.now() - t0) / 1000 });
    } catch (e) {
      out.push({
        fault: name,
        accepted: 0,
        done: 0,
        failed: 0,
        reasons: {},
        lost: -1,
        duplicated: -1,
        leftoverRequests: -1,
        notes: [`did not run: ${(e as Error).message}`],
        seconds: (Date.now() - t0) / 1000,
      });
    }
    log(`chaos: ${name}: ${JSON.stringify(out.at(-1))}`);
  }
  return out;
}

export function resultsTable(results: FaultResult[]): string {
  const rows = results.map((r) => {
    const reasons = Object.entries(r.reasons)
      .map(([k, v]) => `${v} x "${k.length > 90 ? `${k.slice(0, 90)}...` : k}"`)
      .join('; ');
    return `| ${r.fault} | ${r.accepted} | ${r.done} | ${r.failed}${reasons ? `: ${reasons}` : ''} | ${r.lost} | ${r.duplicated} | ${r.leftoverRequests} | ${r.seconds.toFixed(0)} | ${r.notes.join('; ')} |`;
  });
  return [
    '| fault | accepted | done | failed (reasons) | lost | duplicated | private requests left | s | notes |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}
