import type { Config } from '../config.ts';
import { LocalJobQueue } from '../queue/local-queue.ts';
import { buildApp } from './app.ts';

/** The OpenAPI document generated from the route schemas (what openapi.yaml must equal). */
export async function openapiYaml(): Promise<string> {
  const config: Config = {
    host: '127.0.0.1',
    port: 0,
    redisUrl: null,
    queuePrefix: 'zkinfer',
    workerConcurrency: 1,
    workerLockMs: 30_000,
    bodyLimit: 64 * 1024 * 1024,
    requestTimeoutMs: 30_000,
    rateLimit: 600,
    apiKeys: [],
  };
  // The local queue starts its worker only when a job arrives, and none does here.
  const queue = new LocalJobQueue();
  const app = await buildApp({ config, queue });
  await app.ready();
  const yaml = app.swagger({ yaml: true });
  await app.close();
  await queue.close();
  return yaml;
}
