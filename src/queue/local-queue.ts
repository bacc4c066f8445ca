import { type ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JobQueue } from './types.ts';

/**
 * One machine, no Redis: jobs run one at a time in a forked worker process (so proving
 * never blocks the API's event loop), fed over IPC. Jobs are not durable: a restart
 * forgets queued work (records stay on disk with their last status).
 */
export class LocalJobQueue implements JobQueue {
  readonly kind = 'local';
  private child: ChildProcess | null = null;
  private pending = { compile: 0, prove: 0 };

  private worker(): ChildProcess {
    if (this.child && this.child.connected) return this.child;
    const entry = path.join(path.dirname(fileURLToPath(import.meta.url)), 'local-worker.ts');
    const child = fork(entry, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.on('message', (m: { done: 'compile' | 'prove' }) => {
      this.pending[m.done] = Math.max(0, this.pending[m.done] - 1);
    });
    child.on('exit', () => {
      if (this.child === child) this.child = null;
    });
    this.child = child;
    return child;
  }

  async enqueueCompile(modelId: string): Promise<void> {
    this.pending.compile++;
    this.worker().send({ kind: 'compile', id: modelId });
  }

  async enqueueProve(proofId: string): Promise<void> {
    this.pending.prove++;
    this.worker().send({ kind: 'prove', id: proofId });
  }

  async depth() {
    return { ...this.pending };
  }

  async ping(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    this.child?.kill('SIGTERM');
    this.child = null;
  }
}
