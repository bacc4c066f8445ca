export * from './field.ts';
export * from './quantize.ts';
export * from './reference.ts';
export * from './settings.ts';
export * from './fidelity.ts';
export * from './input-quant.ts';
export * from './circuit-size.ts';
