export * from './decode.ts';
export * from './verify-bundle.ts';
