export * from './bullmq-queue.ts';
export * from './local-queue.ts';
export * from './processors.ts';
export * from './reconciler.ts';
export * from './types.ts';
