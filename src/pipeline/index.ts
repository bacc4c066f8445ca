export * from './compile-model.ts';
