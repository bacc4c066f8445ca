import { pino, type Logger } from 'pino';

/**
 * The worker's log: JSON lines on stdout from pino, the logger Fastify gives the API (the
 * same fields: level, time, pid, hostname, msg), so one collector reads both processes.
 */
export function workerLogger(): Logger {
  return pino({ name: 'zkinfer-worker' });
}
