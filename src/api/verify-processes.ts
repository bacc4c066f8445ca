import { type ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { VerifyTask, VerifyTaskResult } from './verify-child.ts';

/**
 * Verification (a pairing check, ~20 ms of CPU) runs in child processes, not on the
 * API's event loop, so one verify does not hold up every other request. (Worker threads
 * do not work here: ffjavascript's web-worker shim takes a worker thread for its own.)
 */
export class VerifyProcesses {
  private readonly children: (ChildProcess | null)[];
  private readonly pending = new Map<number, { resolve: (r: VerifyTaskResult) => void; child: number }>();
  private next = 0;
  private seq = 0;

  constructor(count = 2) {
    this.children = Array.from({ length: count }, () => null);
  }

  private child(i: number): ChildProcess {
    const existing = this.children[i];
    if (existing && existing.connected) return existing;
    const entry = path.join(path.dirname(fileURLToPath(import.meta.url)), 'verify-child.ts');
    const c = fork(entry, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    c.on('message', (m: { id: number; result: VerifyTaskResult }) => {
      this.pending.get(m.id)?.resolve(m.result);
      this.pending.delete(m.id);
    });
    c.on('exit', () => {
      if (this.children[i] === c) this.children[i] = null;
      // Requests the dead process held fail as internal errors rather than hang.
      for (const [id, p] of this.pending) {
        if (p.child === i) {
          p.resolve({ ok: false, internal: 'verification process exited' });
          this.pending.delete(id);
        }
      }
    });
    this.children[i] = c;
    return c;
  }

  run(task: VerifyTask): Promise<VerifyTaskResult> {
    const i = this.next++ % this.children.length;
    const id = this.seq++;
    return new Promise((resolve) => {
      this.pending.set(id, { resolve, child: i });
      this.child(i).send({ id, task });
    });
  }

  async close(): Promise<void> {
    for (const c of this.children) c?.kill('SIGTERM');
    this.children.fill(null);
  }
}
