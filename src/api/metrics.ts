import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { JobQueue } from '../queue/types.ts';

export interface ApiMetrics {
  registry: Registry;
  verifications: Counter<'result'>;
  httpSeconds: Histogram<'method' | 'route' | 'status'>;
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
  const httpSeconds = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request durations, per method, route (its pattern, not the URL) and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  return { registry, verifications, httpSeconds };
}
