import { AggregatorRegistry, Registry } from 'prom-client';
import { access, constants, mkdir } from 'node:fs/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { artifactRoot } from '../../core/artifacts.ts';
import { ServicePhase1Schema } from '../schemas.ts';

export async function healthRoutes(app: FastifyInstance): Promise<void> {
  const Status = Type.Object({
    status: Type.String(),
    queue: Type.Optional(Type.String()),
    database: Type.Optional(Type.String()),
    workers: Type.Optional(Type.String()),
    store: Type.Optional(Type.String()),
    phase1: Type.Optional(ServicePhase1Schema),
    waitingFor: Type.Optional(
      Type.Array(Type.String(), {
        description:
          'The dependencies that are unavailable now: queued jobs wait for them (no attempt spent) for up to outageBudgetSeconds, ' +
          'then fail with a reason starting OUTAGE: (sending the same Idempotency-Key again retries such a proof)',
      }),
    ),
    outageBudgetSeconds: Type.Optional(Type.Integer({ description: 'OUTAGE_BUDGET_SECONDS: how long a job waits for an unavailable dependency' })),
  });
  app.get('/healthz', { config: { rateLimit: false, public: true }, schema: { summary: 'Liveness', response: { 200: Status } } }, async () => ({
    status: 'ok',
  }));
  app.get(
    '/readyz',
    {
      config: { rateLimit: false, public: true },
      schema: {
        summary:
          'Readiness: the database, the queue backend and the artifact store are reachable, and a worker has heartbeated ' +
          'recently; phase1 names the powers of tau every setup uses (ZKINFER_PTAU, checked by the service at start)',
        response: { 200: Status, 503: Status },
      },
    },
    async (_req, reply) => {
      const [queueUp, dbUp] = await Promise.all([app.queue.ping(), app.db.ping()]);
      let workers = 'unknown (database unreachable)';
      let workersOk = false;
      if (dbUp) {
        const age = await app.heartbeats.ageMs().catch(() => null);
        workersOk = age !== null && age <= app.config.heartbeatStaleMs;
        workers =
          age === null
            ? 'no worker has ever heartbeated'
            : workersOk
              ? `ok (last heartbeat ${Math.round(age / 1000)} s ago)`
              : `no heartbeat for ${Math.round(age / 1000)} s`;
      }
      let store = 'ok';
      try {
        await mkdir(artifactRoot(), { recursive: true });
        await access(artifactRoot(), constants.W_OK);
      } catch {
        store = 'unwritable';
      }
      const ok = queueUp && dbUp && workersOk && store === 'ok';
      const waitingFor = new Set<string>(app.queue.waitingFor?.() ?? []);
      if (!dbUp) waitingFor.add('the database');
      if (!queueUp) waitingFor.add(app.queue.kind === 'bullmq' ? 'Redis' : 'the embedded worker processes');
      if (store !== 'ok') waitingFor.add('the artifacts folder (disk)');
      return reply.status(ok ? 200 : 503).send({
        status: ok ? 'ready' : 'not ready',
        queue: `${app.queue.kind}: ${queueUp ? 'ok' : 'unreachable'}`,
        database: `${app.db.kind}: ${dbUp ? 'ok' : 'unreachable'}`,
        workers,
        store,
        phase1: app.phase1,
        waitingFor: [...waitingFor],
        outageBudgetSeconds: Math.round(app.config.outageBudgetMs / 1000),
      });
    },
  );
  // With ADMIN_PORT, /metrics is served there instead (admin.ts).
  if (app.config.adminPort === null) app.get('/metrics', { config: { rateLimit: false }, schema: metricsSchema }, metricsHandler(app));
}

export const metricsSchema = {
  summary:
    'Prometheus metrics: queue depth, verifications, HTTP request durations per route, and in embedded mode job ' +
    'durations per stage (BullMQ workers serve theirs on METRICS_PORT)',
  produces: ['text/plain'],
};

export function metricsHandler(app: FastifyInstance) {
  return async (_req: FastifyRequest, reply: FastifyReply) => {
    reply.header('content-type', app.metrics.registry.contentType);
    // The embedded worker processes' job times, summed, join the API's own metrics.
    const jobs = app.queue.jobMetrics?.() ?? [];
    if (!jobs.length) return app.metrics.registry.metrics();
    return Registry.merge([app.metrics.registry, AggregatorRegistry.aggregate(jobs.map((j) => [j]))]).metrics();
  };
}
