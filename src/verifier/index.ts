export * from './verify-bundle.ts';
export * from './check-receipt.ts';
