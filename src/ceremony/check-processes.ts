import { type ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CeremonyTask, CeremonyTaskResult } from './check-child.ts';

/**
 * Runs ceremony checks (snarkjs `verifyFromR1cs`, seconds of CPU) and beacons in a child
 * process, one at a time, so they never hold the API's event loop. Started on first use.
 */
export class CeremonyProcesses {
  private child: ChildProcess | null = null;
  private readonly pending = new Map<number, (r: CeremonyTaskResult) => void>();
  private seq = 0;

  private process(): ChildProcess {
    if (this.child && this.child.connected) return this.child;
    const entry = path.join(path.dirname(fileURLToPath(import.meta.url)), 'check-child.ts');
    const c = fork(entry, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    c.on('message', (m: { id: number; result: CeremonyTaskResult }) => {
      this.pending.get(m.id)?.(m.result);
      this.pending.delete(m.id);
    });
    c.on('exit', () => {
      if (this.child === c) this.child = null;
      for (const [id, resolve] of this.pending) {
        resolve({ ok: false, internal: 'ceremony process exited' });
        this.pending.delete(id);
      }
    });
    this.child = c;
    return c;
  }

  /** Tasks waiting or running (the next one waits for all of these). */
  get busy(): number {
    return this.pending.size;
  }

  run(task: CeremonyTask): Promise<CeremonyTaskResult> {
    const id = this.seq++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.process().send({ id, task });
    });
  }

  async close(): Promise<void> {
    this.child?.kill('SIGTERM');
    this.child = null;
  }
}
