export * from './ceremony.ts';
export * from './chain.ts';
