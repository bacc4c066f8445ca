// The artifacts folder read-only for a while (embedded mode), as a disk that failed or
// filled: the API runs in a private mount namespace of its own (unshare -m) where the
// folder is bind-mounted onto itself, and this suite remounts that mount read-only and
// back (nsenter). Nothing outside that namespace sees the change.
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { ADMIN_KEY, http, Ledger, Proc, PROVER_KEY, readyModel, REPO, settle, sleep, type Stack } from './harness.ts';
import { applicant, burst, embeddedStack, type Fault, leftoverEmbedded, until } from './stacks.ts';

/** Why the fault cannot run here, or null (it needs root, unshare and nsenter). */
export function diskFaultUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (a private mount namespace)';
  const probe = spawnSync('unshare', ['-m', 'sh', '-c', 'mount -t tmpfs -o size=1m tmpfs /mnt && umount /mnt'], { stdio: 'ignore' });
  if (probe.status !== 0) return 'unshare -m with mount is not permitted here';
  if (spawnSync('nsenter', ['--version'], { stdio: 'ignore' }).status !== 0) return 'no nsenter';
  return null;
}

/** The API in its own mount namespace, with the artifacts folder a bind mount this suite can remount. */
async function startApiInNamespace(stack: Stack, artifacts: string): Promise<Proc> {
  const script = `mount --bind "$ART" "$ART" && exec "$NODE" --import tsx src/api/server.ts`;
  const env = { ...stack.env, PORT: String(stack.port), HOST: '127.0.0.1', ART: artifacts, NODE: process.execPath };
  const p = new Proc('api', 'unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], env, stack.echo);
  const end = Date.now() + 60_000;
  while (Date.now() < end) {
    if (!p.alive) throw new Error(`api exited at start: ${p.lines.slice(-5).join(' | ')}`);
    if ((await fetch(`${stack.base}/healthz`, { signal: AbortSignal.timeout(1000) }).catch(() => null))?.ok) return p;
    await sleep(100);
  }
  throw new Error('api did not start');
}

function remount(api: Proc, artifacts: string, mode: 'ro' | 'rw'): void {
  const r = spawnSync('nsenter', ['-t', String(api.pid), '-m', 'mount', '-o', `remount,bind,${mode}`, artifacts], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`remount ${mode}: ${r.stderr}`);
}

/**
 * Embedded mode, the artifacts folder read-only for `outageMs` while proofs are queued and
 * running: every proof must end done (none failed), submissions meanwhile get a 503 with
 * Retry-After (not a 500), and /readyz names the artifacts folder.
 */
export const embeddedDiskFault: Fault = async (o) => {
  const why = diskFaultUnavailable();
  if (why) throw new Error(why);
  const s = await embeddedStack(o.echo);
  const artifacts = path.join(REPO, 'artifacts');
  const api = await startApiInNamespace(s, artifacts);
  const notes: string[] = [];
  try {
    const modelId = await readyModel(s.base);
    const ledger = new Ledger();
    const input = await applicant();
    await burst(s, ledger, modelId, o.n, input).all;
    await until(
      async () => (await http(s.base, 'GET', '/v1/proofs?limit=200', ADMIN_KEY)).body.items.some((p: { status: string }) => p.status === 'done'),
      60_000,
      100,
    );
    remount(api, artifacts, 'ro');
    const t0 = Date.now();
    let post = 'not sent';
    let ready = 'not asked';
    try {
      const r = await fetch(`${s.base}/v1/models/${modelId}/proofs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${PROVER_KEY}`, 'content-type': 'application/json', 'idempotency-key': randomUUID() },
        body: JSON.stringify({ input }),
      });
      post = `${r.status} retry-after ${r.headers.get('retry-after')}`;
      const rz = await http(s.base, 'GET', '/readyz', ADMIN_KEY, undefined, {}, 5000);
      ready = `${rz.status} store ${rz.body?.store} waiting for ${JSON.stringify(rz.body?.waitingFor ?? null)}`;
      await sleep(Math.max(0, o.outageMs - (Date.now() - t0)));
    } finally {
      remount(api, artifacts, 'rw');
    }
    notes.push(`submission while the artifacts folder was read-only: ${post}`, `/readyz during it: ${ready}`);
    const r = await settle(s.base, ledger, 180_000, async () => 0);
    await api.stop();
    return {
      fault: `embedded: artifacts folder read-only ${o.outageMs / 1000} s under queued proofs`,
      ...r,
      leftoverRequests: await leftoverEmbedded(s.dbDir),
      notes,
    };
  } finally {
    await api.stop();
    await rm(path.dirname(s.dbDir), { recursive: true, force: true });
  }
};
