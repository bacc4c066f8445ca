import { Interface } from 'ethers';
import type { Groth16Proof } from 'snarkjs';

/** A proof as the Solidity verifier takes it: 0x-prefixed 32-byte words, G2 coordinates in (imaginary, real) order. */
export interface SolidityProof {
  pA: [string, string];
  pB: [[string, string], [string, string]];
  pC: [string, string];
  pubSignals: string[];
}

const word = (v: string | bigint): string => '0x' + BigInt(v).toString(16).padStart(64, '0');

/**
 * The arguments of `verifyProof` / `attest` for a snarkjs proof, as `snarkjs zkey
 * export soliditycalldata` gives them: pi_b's coordinate pairs are swapped (the EVM's
 * pairing precompile takes the imaginary part first); the z coordinates are dropped.
 */
export function solidityProof(proof: Groth16Proof, publicSignals: readonly (string | bigint)[]): SolidityProof {
  const b = proof.pi_b as unknown as string[][];
  return {
    pA: [word(proof.pi_a[0]), word(proof.pi_a[1])],
    pB: [
      [word(b[0][1]), word(b[0][0])],
      [word(b[1][1]), word(b[1][0])],
    ],
    pC: [word(proof.pi_c[0]), word(proof.pi_c[1])],
    pubSignals: publicSignals.map(word),
  };
}

/** The ABI of the two entry points for a model with `n` public signals (the verifier's and the registry's). */
export function proofAbi(n: number): Interface {
  const args = `uint256[2] pA, uint256[2][2] pB, uint256[2] pC, uint256[${n}] pubSignals`;
  return new Interface([`function verifyProof(${args}) view returns (bool)`, `function attest(${args}) returns (uint256 nonce)`]);
}

/** Transaction data for `verifyProof` (the verifier) and `attest` (the registry). */
export function encodeCalls(p: SolidityProof): { verifyProof: string; attest: string } {
  const abi = proofAbi(p.pubSignals.length);
  const args = [p.pA, p.pB, p.pC, p.pubSignals];
  return { verifyProof: abi.encodeFunctionData('verifyProof', args), attest: abi.encodeFunctionData('attest', args) };
}
