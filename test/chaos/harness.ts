// The chaos suite's parts: processes it starts (and the only ones it ever signals), an HTTP
// client that retries the way a careful caller does, and the tally of what became of every
// accepted request. Loopback only.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';

export const REPO = path.resolve(import.meta.dirname, '..', '..');
export const LOAN_MODEL = path.join(REPO, 'examples', 'loan', 'loan-model.onnx');
export const LOAN_APPLICANT = path.join(REPO, 'examples', 'loan', 'applicant.json');
export const ADMIN_KEY = 'chaos-admin-key-0123456789';
export const PROVER_KEY = 'chaos-prover-key-0123456789';
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** A process this suite started: the only kind it sends signals to. */
export class Proc {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  constructor(
    readonly name: string,
    cmd: string,
    args: string[],
    env: NodeJS.ProcessEnv,
    private readonly echo = false,
  ) {
    this.child = spawn(cmd, args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const take = (buf: Buffer) => {
      for (const l of buf.toString('utf8').split('\n')) {
        if (!l.trim()) continue;
        this.lines.push(l);
        if (this.echo) process.stderr.write(`[${this.name}] ${l}\n`);
      }
    };
    this.child.stdout!.on('data', take);
    this.child.stderr!.on('data', take);
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
  }
  get pid(): number {
    return this.child.pid!;
  }
  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
  kill(signal: NodeJS.Signals): void {
    if (this.alive) this.child.kill(signal);
  }
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 20_000): Promise<void> {
    if (!this.alive) return;
    this.kill(signal);
    const t = setTimeout(() => this.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }
  /**
   * Pids of this process's children whose command line contains `marker`: a worker process
   * an API process forked. Signalled only while their parent is a process of this suite.
   */
  async childPids(marker: string): Promise<number[]> {
    const out: number[] = [];
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (ppid !== this.pid) continue;
        if ((await readFile(`/proc/${entry}/cmdline`, 'utf8')).includes(marker)) out.push(Number(entry));
      } catch {
        // gone already
      }
    }
    return out;
  }
}

const node = (script: string, env: NodeJS.ProcessEnv, name: string, echo: boolean) =>
  new Proc(name, process.execPath, ['--import', 'tsx', path.join(REPO, script)], env, echo);

export function startRedis(port: number): Proc {
  // No persistence at all: a kill loses every queued job, which is the case to survive.
  return new Proc(
    'redis',
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'],
    process.env,
  );
}

export async function waitRedis(port: number, ms = 10_000): Promise<void> {
  const { Redis } = await import('ioredis');
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
    r.on('error', () => {});
    try {
      await r.connect();
      if ((await r.ping()) === 'PONG') return;
    } catch {
      // not yet
    } finally {
      r.disconnect();
    }
    await sleep(100);
  }
  throw new Error(`redis on ${port} did not start`);
}

export interface Stack {
  env: NodeJS.ProcessEnv;
  port: number;
  base: string;
  echo: boolean;
}

export async function startApi(stack: Stack, name = 'api'): Promise<Proc> {
  const p = node('src/api/server.ts', { ...stack.env, PORT: String(stack.port), HOST: '127.0.0.1' }, name, stack.echo);
  const end = Date.now() + 60_000;
  while (Date.now() < end) {
    if (!p.alive) throw new Error(`${name} exited at start: ${p.lines.slice(-5).join(' | ')}`);
    try {
      if ((await fetch(`${stack.base}/healthz`, { signal: AbortSignal.timeout(1000) })).ok) return p;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`${name} did not start`);
}

export function startWorker(stack: Stack, name = 'worker'): Proc {
  return node('src/queue/worker-main.ts', stack.env, name, stack.echo);
}

export async function http(base: string, method: string, url: string, key: string, body?: unknown, headers: Record<string, string> = {}, timeoutMs = 10_000) {
  const res = await fetch(base + url, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body !== undefined && !(body instanceof FormData) ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : body instanceof FormData ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, body: json };
}

/** Registers the loan model and waits until it is ready (a worker must be running). */
export async function readyModel(base: string, ms = 240_000): Promise<string> {
  const form = new FormData();
  form.append('model', new Blob([await readFile(LOAN_MODEL)]), 'loan-model.onnx');
  const up = await http(base, 'POST', '/v1/models', PROVER_KEY, form);
  if (up.status !== 202) throw new Error(`model upload: ${up.status} ${JSON.stringify(up.body)}`);
  const id = up.body.id as string;
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const m = await http(base, 'GET', `/v1/models/${id}`, PROVER_KEY).catch(() => null);
    if (m?.body.status === 'ready') return id;
    if (m?.body.status === 'failed') throw new Error(`model failed: ${m.body.reason}`);
    await sleep(250);
  }
  throw new Error('model not ready in time');
}

/** What a client saw: every proof id each Idempotency-Key was answered with. */
export class Ledger {
  readonly byKey = new Map<string, Set<string>>();
  resets = 0;
  unavailable = 0;
  note(key: string, id: string) {
    let s = this.byKey.get(key);
    if (!s) this.byKey.set(key, (s = new Set()));
    s.add(id);
  }
  get accepted(): Set<string> {
    return new Set([...this.byKey.values()].flatMap((s) => [...s]));
  }
}

/**
 * Submits one proof request with its Idempotency-Key until it gets a 202, retrying on
 * network errors, 503 and 5xx, as a careful client does. Returns the proof id, or null at
 * the deadline.
 */
export async function submit(stack: Stack, ledger: Ledger, modelId: string, key: string, input: unknown, deadline: number): Promise<string | null> {
  while (Date.now() < deadline) {
    try {
      const r = await http(stack.base, 'POST', `/v1/models/${modelId}/proofs`, PROVER_KEY, { input }, { 'idempotency-key': key }, 15_000);
      if (r.status === 202) {
        ledger.note(key, r.body.id);
        return r.body.id;
      }
      if (r.status === 503 || r.status >= 500) ledger.unavailable++;
      else throw new Error(`submission refused: ${r.status} ${JSON.stringify(r.body)}`);
    } catch (e) {
      const code = (e as { cause?: { code?: string } }).cause?.code;
      if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') ledger.resets++;
      if ((e as Error).message.startsWith('submission refused')) throw e;
    }
    await sleep(100);
  }
  return null;
}

export interface FaultResult {
  fault: string;
  accepted: number;
  done: number;
  failed: number;
  reasons: Record<string, number>;
  lost: number;
  duplicated: number;
  /** Private requests still stored for proofs that ended. */
  leftoverRequests: number;
  notes: string[];
  seconds: number;
}

/** Every proof record the service holds (admin view), page by page. */
export async function allProofs(base: string): Promise<{ id: string; status: string; reason?: string }[]> {
  const out: { id: string; status: string; reason?: string }[] = [];
  let cursor: string | null = null;
  do {
    const r = await http(base, 'GET', `/v1/proofs?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, ADMIN_KEY);
    if (r.status !== 200) throw new Error(`listing proofs: ${r.status}`);
    out.push(...r.body.items);
    cursor = r.body.nextCursor;
  } while (cursor);
  return out;
}

/** Waits until every accepted proof is done or failed (or the deadline), then tallies. */
export async function settle(
  base: string,
  ledger: Ledger,
  deadlineMs: number,
  countRequests: () => Promise<number>,
): Promise<Omit<FaultResult, 'fault' | 'notes' | 'seconds'>> {
  const accepted = ledger.accepted;
  const end = Date.now() + deadlineMs;
  let proofs: { id: string; status: string; reason?: string }[] = [];
  while (Date.now() < end) {
    proofs = await allProofs(base).catch(() => proofs);
    const byId = new Map(proofs.map((p) => [p.id, p]));
    if ([...accepted].every((id) => ['done', 'failed'].includes(byId.get(id)?.status ?? ''))) break;
    await sleep(500);
  }
  const byId = new Map(proofs.map((p) => [p.id, p]));
  const final = [...accepted].map((id) => byId.get(id)).filter((p) => p && (p.status === 'done' || p.status === 'failed'));
  const reasons: Record<string, number> = {};
  for (const p of final) if (p!.status === 'failed') reasons[p!.reason ?? '?'] = (reasons[p!.reason ?? '?'] ?? 0) + 1;
  const twoIds = [...ledger.byKey.values()].filter((s) => s.size > 1).length;
  const strays = proofs.filter((p) => !accepted.has(p.id)).length;
  return {
    accepted: accepted.size,
    done: final.filter((p) => p!.status === 'done').length,
    failed: final.filter((p) => p!.status === 'failed').length,
    reasons,
    lost: accepted.size - final.length,
    duplicated: twoIds + strays,
    leftoverRequests: await countRequests(),
  };
}
