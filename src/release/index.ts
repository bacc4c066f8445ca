export * from './dsse.ts';
export * from './release.ts';
export * from './statement.ts';
export * from './test-set.ts';
export * from './verify-release.ts';
