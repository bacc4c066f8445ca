export * from './verify-bundle.ts';
export * from './check-receipt.ts';
export * from './verify-property.ts';
