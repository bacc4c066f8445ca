import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance } from 'fastify';
import { metricsHandler, metricsSchema } from './routes/health.ts';

/**
 * The admin listener (ADMIN_PORT): Prometheus /metrics and the Swagger UI at /docs, on a
 * port an operator keeps off the public interface. The API's own port then serves neither.
 */
export async function buildAdminApp(api: FastifyInstance): Promise<FastifyInstance> {
  const admin = Fastify({ logger: false });
  await admin.register(swagger, { mode: 'static', specification: { document: api.swagger() as never } });
  await admin.register(swaggerUi, { routePrefix: '/docs' });
  admin.get('/metrics', { schema: metricsSchema }, metricsHandler(api));
  return admin;
}
