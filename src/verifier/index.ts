export * from './decode.ts';
export * from './verify-bundle.ts';
export * from './check-receipt.ts';
