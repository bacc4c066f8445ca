// The embedded queue's worker process: runs the jobs the API process hands it, one at a
// time, reading and writing records through the API process over IPC (see local-queue.ts).
import { hostname } from 'node:os';
import { UnrecoverableError } from 'bullmq';
import { infrastructureOf, InfrastructureError } from '../core/infra-errors.ts';
import { type FromWorker, type ToWorker, WORKER_OPTIONS_ENV } from './local-queue.ts';
import { jobSeconds } from './job-metrics.ts';
import type { JobRecords } from './job-records.ts';
import { makeProcessors, type ProcessorOptions } from './processors.ts';

const send = (m: FromWorker) => process.send?.(m);
let seq = 0;
const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

/** The record methods, called in the API process. */
const records = new Proxy({} as JobRecords, {
  get:
    (_t, method: string) =>
    (...args: unknown[]) =>
      new Promise((resolve, reject) => {
        const id = ++seq;
        waiting.set(id, { resolve, reject });
        send({ type: 'rpc', seq: id, method: method as keyof JobRecords, args });
      }),
});
const processors = makeProcessors(records, JSON.parse(process.env[WORKER_OPTIONS_ENV] || '{}') as ProcessorOptions);
const name = `${hostname()}:${process.pid}`;
let running: Promise<void> = Promise.resolve();
let stopping = false;

process.on('message', (m: ToWorker) => {
  if (m.type === 'rpc-result') {
    const w = waiting.get(m.seq);
    waiting.delete(m.seq);
    if (m.ok) w?.resolve(m.value);
    else w?.reject(m.infra ? new InfrastructureError(m.infra, m.error ?? 'unavailable') : new Error(m.error));
  } else if (m.type === 'job') {
    running = (async () => {
      try {
        await (m.job.kind === 'compile' ? processors.compile(m.job.tenant, m.job.id) : processors.prove(m.job.id));
        send({ type: 'done', ok: true, jobMetrics: await jobSeconds.get() });
      } catch (e) {
        const infra = infrastructureOf(e) ?? undefined;
        send({
          type: 'done',
          ok: false,
          unrecoverable: e instanceof UnrecoverableError,
          infra,
          error: (e as Error).message,
          jobMetrics: await jobSeconds.get(),
        });
      }
    })();
  } else if (m.type === 'stop') {
    stopping = true;
    // The running job finishes first; its result reaches the API process before the exit.
    void running.then(() => setTimeout(() => process.exit(0), 50));
  }
});
// The API process is gone: nothing can be recorded any more.
process.on('disconnect', () => process.exit(0));
// Signals go to the API process, which stops this one when its running job is done.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {
  if (!stopping) void running.then(() => process.exit(0));
});

const beat = () => records.heartbeat(name, 'embedded').catch(() => {});
void beat();
setInterval(beat, 5000).unref();
send({ type: 'ready' });
