// `npm start`: the REST API. With REDIS_URL (and DATABASE_URL), jobs go to BullMQ for
// `npm run worker` processes; without it, the database is the queue and this server runs
// the jobs in a worker process of its own. Records live in PostgreSQL (DATABASE_URL) or in
// the embedded store under artifacts/db.
import { loadConfig } from '../service/config.ts';
import { isZkinferError, startupMessage } from '../core/errors.ts';
import { redisConnection, redisPersistence } from '../queue/index.ts';
import { checkServicePhase1 } from '../service/phase1.ts';
import { buildApp } from './app.ts';

/**
 * A problem at startup stops it with its message, not a stack trace: a settings problem (every
 * one at once, each naming its setting) with exit 2; anything else (a database that cannot be
 * reached, a taken port) with exit 1.
 */
function refuse(e: unknown): never {
  const settings = isZkinferError(e) && e.code === 'SETTINGS';
  process.stderr.write(`zkinfer not starting: ${startupMessage(e)}\n`);
  process.exit(settings ? 2 : 1);
}
const config = (() => {
  try {
    return loadConfig();
  } catch (e) {
    refuse(e);
  }
})();
// The powers of tau every setup and ceremony will use, checked before anything is opened.
const phase1 = await checkServicePhase1(config).catch(refuse);
const app = await buildApp({ config, logger: true, phase1 }).catch(refuse);
app.log.info({ phase1 }, `phase 1: ${phase1.name} (${phase1.kind}${phase1.insecure ? ', insecure' : ''})`);
if (config.apiKeys.length === 0) app.log.warn('no ZKINFER_API_KEYS configured: open development mode, every caller is admin');
if (config.redisUrl) {
  const probe = redisConnection(config.redisUrl);
  probe.on('error', () => {});
  const warning = await redisPersistence(probe).catch(() => null);
  if (warning)
    app.log.warn(
      `${warning}: a Redis restart loses queued jobs; nothing accepted is lost (the database is the source of truth and ` +
        `the reconciler enqueues them again), but they wait for the next reconciler pass`,
    );
  probe.disconnect();
}
await app.listen({ host: config.host, port: config.port }).catch(async (e: unknown) => {
  await app.close().catch(() => {});
  refuse(e);
});
let stopping = false;
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, async () => {
    if (stopping) return;
    stopping = true;
    app.log.info(`${sig}: no new connections; finishing in-flight requests and running jobs`);
    const force = setTimeout(() => {
      app.log.error('shutdown timed out');
      process.exit(1);
    }, config.shutdownTimeoutMs + 5000);
    // Stops listening, closes idle connections, waits for in-flight requests, then (onClose)
    // stops the reconciler, lets the running job finish, and closes the database.
    await app.close();
    clearTimeout(force);
    process.exit(0);
  });
}
