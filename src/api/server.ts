// `npm start`: the REST API. With REDIS_URL, jobs go to BullMQ for `npm run worker`
// processes; without it, to a local worker process this server starts itself.
import { loadConfig } from '../config.ts';
import { BullJobQueue, LocalJobQueue, redisConnection, type JobQueue } from '../queue/index.ts';
import { buildApp } from './app.ts';

const config = loadConfig();
const redis = config.redisUrl ? redisConnection(config.redisUrl) : null;
redis?.on('error', () => {});
const queue: JobQueue = config.redisUrl ? new BullJobQueue({ redisUrl: config.redisUrl, prefix: config.queuePrefix }) : new LocalJobQueue();
const app = await buildApp({ config, queue, redis, logger: true });
if (config.apiKeys.length === 0) app.log.warn('no ZKINFER_API_KEYS configured: open development mode, every caller is admin');
await app.listen({ host: config.host, port: config.port });
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, async () => {
    await app.close();
    await queue.close();
    redis?.disconnect();
    process.exit(0);
  });
}
