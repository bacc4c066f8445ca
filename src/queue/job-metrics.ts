import { createServer, type Server } from 'node:http';
import { Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Per-worker metrics: time per job stage. Each worker serves its own /metrics when METRICS_PORT is set. */
export const workerRegistry = new Registry();
collectDefaultMetrics({ register: workerRegistry });

export const jobSeconds = new Histogram({
  name: 'zkinfer_job_seconds',
  help: 'Time per job stage',
  labelNames: ['queue', 'stage', 'outcome'],
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
  registers: [workerRegistry],
});

/**
 * Serves this worker's /metrics on HOST:port. Resolves once listening, so a taken port
 * stops the worker before it takes any job (rejects with the reason).
 */
export function serveWorkerMetrics(port: number, host: string): Promise<Server> {
  const server = createServer(async (req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': workerRegistry.contentType });
    res.end(await workerRegistry.metrics());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
