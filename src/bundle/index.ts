// The proof-bundle format in one browser-safe module (no node: imports here or in what it
// imports): document identifiers and types, the model descriptor and its commitment,
// decoding public signals, the receipt's input commitment, and the structural checks
// against schemas/proof-bundle.schema.json. The proof checks themselves are src/verifier's.
export * from './checks.ts';
export * from './decode.ts';
export * from './descriptor.ts';
export * from './format.ts';
export * from './input-commitment.ts';
