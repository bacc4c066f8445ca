import { type ChildProcess, fork } from 'node:child_process';

/**
 * A fixed number of child processes (started on first use, restarted after an exit) that
 * run tasks sent over IPC, each to the least busy child; each child answers its tasks one at a time
 * (`serveTasks`). CPU-heavy checks run here, not on the API's event loop. (Worker threads
 * do not work here: ffjavascript's web-worker shim takes a worker thread for its own.)
 * A task whose child exits before answering resolves to `exited(message)`, never hangs.
 */
export class ChildPool<Task, Result> {
  private readonly children: (ChildProcess | null)[];
  private readonly pending = new Map<number, { resolve: (r: Result) => void; child: number }>();
  private next = 0;
  private seq = 0;

  /**
   * @param entry the child's module (a file that calls `serveTasks`), run with tsx
   * @param exited the result of a task whose process exited, given `exitMessage`
   */
  constructor(
    private readonly entry: string,
    count: number,
    private readonly exitMessage: string,
    private readonly exited: (message: string) => Result,
  ) {
    this.children = Array.from({ length: count }, () => null);
  }

  private child(i: number): ChildProcess {
    const existing = this.children[i];
    if (existing && existing.connected) return existing;
    const c = fork(this.entry, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    c.on('message', (m: { id: number; result: Result }) => {
      this.pending.get(m.id)?.resolve(m.result);
      this.pending.delete(m.id);
    });
    c.on('exit', () => {
      if (this.children[i] === c) this.children[i] = null;
      // Requests the dead process held fail as internal errors rather than hang.
      for (const [id, p] of this.pending) {
        if (p.child === i) {
          p.resolve(this.exited(this.exitMessage));
          this.pending.delete(id);
        }
      }
    });
    this.children[i] = c;
    return c;
  }

  /** Tasks waiting or running. */
  get busy(): number {
    return this.pending.size;
  }

  run(task: Task): Promise<Result> {
    // The child with the fewest tasks in hand (round-robin among equals): one slow task
    // does not hold up the ones queued behind it while another child is idle.
    const load = this.children.map(() => 0);
    for (const p of this.pending.values()) load[p.child]++;
    const start = this.next++ % this.children.length;
    let i = start;
    for (let k = 1; k < this.children.length; k++) {
      const j = (start + k) % this.children.length;
      if (load[j] < load[i]) i = j;
    }
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

/**
 * The child's side of a `ChildPool`: answers IPC requests one at a time, in order, and
 * exits when the parent goes. Does nothing in a process that was not forked with IPC.
 */
export function serveTasks<Task, Result>(run: (task: Task) => Promise<Result>): void {
  if (!process.send) return;
  let chain = Promise.resolve();
  process.on('message', (m: { id: number; task: Task }) => {
    chain = chain.then(async () => {
      process.send!({ id: m.id, result: await run(m.task) });
    });
  });
  process.on('disconnect', () => process.exit(0));
}
