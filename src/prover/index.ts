export * from './tool-versions.ts';
export * from './commitment.ts';
export * from './dev-ptau.ts';
export * from './prover.ts';
export * from './ptau.ts';
export * from './setup.ts';
export * from './native.ts';
