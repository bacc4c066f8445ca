export * from './generate.ts';
export * from './compile.ts';
export * from './r1cs.ts';
export * from './witness.ts';
