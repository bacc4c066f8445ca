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

export function serveWorkerMetrics(port: number): Server {
  const server = createServer(async (req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': workerRegistry.contentType });
    res.end(await workerRegistry.metrics());
  });
  server.listen(port, '0.0.0.0');
  return server;
}
