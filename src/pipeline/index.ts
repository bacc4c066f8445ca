export * from './compile-model.ts';
export * from './prove-model.ts';
export * from './setup-model.ts';
export * from './audit-model.ts';
export * from './property.ts';
