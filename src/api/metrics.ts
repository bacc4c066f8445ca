import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { JobQueue } from '../queue/types.ts';

export interface ApiMetrics {
  registry: Registry;
  verifications: Counter<'result'>;
}

/** Prometheus metrics of the API process: queue depth (read at scrape time), verify counts, process defaults. */
export function createMetrics(queue: JobQueue): ApiMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: 'zkinfer_queue_depth',
    help: 'Jobs waiting or running, per queue',
    labelNames: ['queue'],
    registers: [registry],
    async collect() {
      try {
        const d = await queue.depth();
        this.set({ queue: 'compile' }, d.compile);
        this.set({ queue: 'prove' }, d.prove);
      } catch {
        // Queue backend down: leave the last values; /readyz reports it.
      }
    },
  });
  const verifications = new Counter({ name: 'zkinfer_verifications_total', help: 'POST /v1/verify results', labelNames: ['result'], registers: [registry] });
  return { registry, verifications };
}
