export * from './calldata.ts';
export * from './compile.ts';
export * from './devchain.ts';
export * from './onchain.ts';
export * from './solidity.ts';
