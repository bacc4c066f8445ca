export * from './ceremony.ts';
export * from './chain.ts';
export * from './trust.ts';
