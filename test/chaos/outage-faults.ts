// Outages that heal by themselves (issue #25): PostgreSQL unreachable for a while under
// queued proofs, and Redis down while clients read and verify. Default service settings
// (OUTAGE_BUDGET_SECONDS, JOB_ATTEMPTS); the database outage is a TCP proxy of this suite's
// between the service and the server, closed and opened again (the shared server is never stopped).
import { randomUUID } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { ADMIN_KEY, freePort, http, Ledger, PROVER_KEY, readyModel, settle, sleep, startApi, startRedis, startWorker, submit, waitRedis } from './harness.ts';
import { embeddedDiskFault } from './disk-fault.ts';
import { applicant, bullStack, burst, type Fault, type FaultOptions, leftoverPg, until } from './stacks.ts';

/** A TCP proxy to `target`: close() refuses new connections and cuts the open ones, as a server that went away. */
export class TcpProxy {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  async open(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise((r) => server.close(r));
  }
}

/** A PostgreSQL URL of the server behind `url`, through a proxy on a free port. */
export async function proxiedPostgres(url: string): Promise<{ url: string; proxy: TcpProxy }> {
  const u = new URL(url);
  const proxy = new TcpProxy(await freePort(), { host: u.hostname, port: Number(u.port || 5432) });
  await proxy.open();
  u.port = String(proxy.port);
  return { url: u.toString(), proxy };
}

/**
 * PostgreSQL unreachable for `outageMs` while proofs are queued and running (BullMQ, two
 * workers): every proof must end done (none failed), submissions in the window get a 503
 * with Retry-After, and /readyz names the database as what the jobs wait for.
 */
export const pgOutage: Fault = (o) => pgOutageOn('bullmq', o);

/** The same with the embedded queue on PostgreSQL (DATABASE_URL without REDIS_URL): the API's own worker processes. */
export const pgOutageEmbedded: Fault = (o) => pgOutageOn('embedded', o);

async function pgOutageOn(mode: 'bullmq' | 'embedded', o: FaultOptions): ReturnType<Fault> {
  const s = await bullStack(o.echo);
  const { url, proxy } = await proxiedPostgres(s.pgUrl);
  s.env = { ...s.env, DATABASE_URL: url, ...(mode === 'embedded' ? { REDIS_URL: '' } : {}) };
  const api = await startApi(s);
  const workers = mode === 'bullmq' ? [startWorker(s, 'worker-1'), startWorker(s, 'worker-2')] : [];
  const notes: string[] = [];
  try {
    const modelId = await readyModel(s.base);
    const ledger = new Ledger();
    const input = await applicant();
    const b = burst(s, ledger, modelId, o.n, input);
    await b.all;
    // Down once the first proof is done, with the others queued or running.
    await until(
      async () => (await http(s.base, 'GET', `/v1/proofs?limit=200`, ADMIN_KEY)).body.items.some((p: { status: string }) => p.status === 'done'),
      60_000,
      100,
    );
    await proxy.close();
    const t0 = Date.now();
    const post = await http(s.base, 'POST', `/v1/models/${modelId}/proofs`, PROVER_KEY, { input }, { 'idempotency-key': randomUUID() }, 10_000).catch(
      (e: Error) => ({ status: 0, body: e.message }),
    );
    const retryAfter = await fetch(`${s.base}/v1/models/${modelId}/proofs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${PROVER_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ input }),
    })
      .then((r) => `${r.status} retry-after ${r.headers.get('retry-after')}`)
      .catch((e: Error) => e.message);
    const ready = await http(s.base, 'GET', '/readyz', ADMIN_KEY, undefined, {}, 5000).catch(() => ({ status: 0, body: null }));
    await sleep(Math.max(0, o.outageMs - (Date.now() - t0)));
    await proxy.open();
    notes.push(
      `submission during the ${o.outageMs / 1000} s database outage: ${post.status} (${retryAfter})`,
      `/readyz during it: ${ready.status} waiting for ${JSON.stringify(ready.body?.waitingFor ?? null)}`,
    );
    const r = await settle(s.base, ledger, 180_000, () => leftoverPg(s.pgUrl));
    const where = mode === 'bullmq' ? 'BullMQ, 2 workers' : 'embedded queue on PostgreSQL';
    return { fault: `PostgreSQL unreachable ${o.outageMs / 1000} s under queued proofs (${where})`, ...r, notes };
  } finally {
    await Promise.all([api.stop(), ...workers.map((w) => w.stop())]);
    await proxy.close();
    await s.redis.stop('SIGKILL');
    await s.stopPg();
  }
}

/**
 * Redis killed while clients read proofs and models and verify bundles: every read and
 * verification is answered 200 (the rate limits fall back to this process's count), and
 * the API logs the switch once, not an error per request.
 */
export const redisReads: Fault = async (o) => {
  const s = await bullStack(o.echo);
  const api = await startApi(s);
  const worker = startWorker(s);
  const notes: string[] = [];
  try {
    const modelId = await readyModel(s.base);
    const ledger = new Ledger();
    const id = await submit(s, ledger, modelId, randomUUID(), await applicant(), Date.now() + 60_000);
    await until(async () => (await http(s.base, 'GET', `/v1/proofs/${id}`, PROVER_KEY)).body.status === 'done', 120_000, 200);
    const { bundle } = (await http(s.base, 'GET', `/v1/proofs/${id}`, PROVER_KEY)).body;
    // Warm (the verifier's child processes start on first use), then take Redis down.
    await http(s.base, 'POST', '/v1/verify', PROVER_KEY, { bundle });
    s.redis.kill('SIGKILL');
    await s.redis.exited;
    const linesBefore = api.lines.length;
    const statuses: Record<string, number> = {};
    let total = 0;
    let ok = 0;
    let verified = 0;
    const end = Date.now() + o.outageMs;
    const tally = (a: { status: number; body: any }) => {
      total++;
      statuses[a.status] = (statuses[a.status] ?? 0) + 1;
      if (a.status === 200 && (a.body?.valid ?? true) === true) ok++;
    };
    const failedCall = (e: Error) => ({ status: 0, body: e.message });
    // Reads and verifications in two loops at once (a verification takes seconds of CPU).
    await Promise.all([
      (async () => {
        while (Date.now() < end) {
          for (const url of [`/v1/proofs/${id}`, `/v1/models/${modelId}`, '/v1/proofs?limit=5'])
            tally(await http(s.base, 'GET', url, PROVER_KEY).catch(failedCall));
          await sleep(50);
        }
      })(),
      (async () => {
        while (Date.now() < end) {
          const a = await http(s.base, 'POST', '/v1/verify', PROVER_KEY, { bundle }, {}, 30_000).catch(failedCall);
          tally(a);
          if (a.status === 200) verified++;
        }
      })(),
    ]);
    const during = api.lines.slice(linesBefore);
    const errors = during.filter((l) => /"level":50/.test(l)).length;
    s.redis = startRedis(s.redisPort);
    await waitRedis(s.redisPort);
    notes.push(
      `reads served during the Redis outage: ${ok}/${total} (${JSON.stringify(statuses)}), of them verifications: ${verified}`,
      `API error-level log lines during it: ${errors}; lines in all: ${during.length}`,
    );
    const r = await settle(s.base, ledger, 60_000, () => leftoverPg(s.pgUrl));
    return { fault: `Redis down ${o.outageMs / 1000} s: reads and verification`, ...r, notes };
  } finally {
    await Promise.all([api.stop(), worker.stop()]);
    await s.redis.stop('SIGKILL');
    await s.stopPg();
  }
};

/**
 * PostgreSQL unreachable for longer than the outage budget (OUTAGE_BUDGET_SECONDS=2 here):
 * the proofs it catches fail with a reason naming the database; sending their
 * Idempotency-Keys again once it is back makes them, under the same ids.
 */
export const pgOutagePastBudget: Fault = async (o) => {
  const s = await bullStack(o.echo);
  const { url, proxy } = await proxiedPostgres(s.pgUrl);
  s.env = { ...s.env, DATABASE_URL: url, OUTAGE_BUDGET_SECONDS: '2' };
  const api = await startApi(s);
  const workers = [startWorker(s, 'worker-1')];
  const notes: string[] = [];
  try {
    const modelId = await readyModel(s.base);
    const ledger = new Ledger();
    const input = await applicant();
    const b = burst(s, ledger, modelId, o.n, input);
    await b.all;
    await proxy.close();
    await sleep(o.outageMs);
    await proxy.open();
    const first = await settle(s.base, ledger, 120_000, async () => 0);
    notes.push(`past the budget: ${first.failed} failed (${Object.keys(first.reasons).join(' | ').slice(0, 200)}), ${first.done} done`);
    // The same keys and payloads again: the failed proofs are made, under their ids.
    const ids = [...ledger.accepted];
    await Promise.all(b.keys.map((k) => submit(s, ledger, modelId, k, input, Date.now() + 60_000)));
    const again = [...ledger.accepted];
    notes.push(`keys sent again: ${again.length === ids.length ? 'the same ids' : `${again.length - ids.length} new id(s)`}`);
    const r = await settle(s.base, ledger, 180_000, () => leftoverPg(s.pgUrl));
    return { fault: `PostgreSQL unreachable ${o.outageMs / 1000} s, past a 2 s outage budget; keys sent again`, ...r, notes };
  } finally {
    await Promise.all([api.stop(), ...workers.map((w) => w.stop())]);
    await proxy.close();
    await s.redis.stop('SIGKILL');
    await s.stopPg();
  }
};

export const OUTAGE_FAULTS = { pgOutage, pgOutageEmbedded, pgOutagePastBudget, redisReads, embeddedDiskFault } satisfies Record<string, Fault>;
