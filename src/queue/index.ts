export * from './bullmq-queue.ts';
export * from './local-queue.ts';
export * from './types.ts';
