// Minimal typings for the parts of snarkjs and circomlibjs that zkinfer calls
// (neither package ships its own).
declare module 'snarkjs' {
  export interface Groth16Proof {
    pi_a: string[];
    pi_b: string[][];
    pi_c: string[];
    protocol: string;
    curve: string;
  }
  export interface VerificationKey {
    protocol: string;
    curve: string;
    nPublic: number;
    vk_alpha_1: string[];
    vk_beta_2: string[][];
    vk_gamma_2: string[][];
    vk_delta_2: string[][];
    vk_alphabeta_12?: unknown;
    IC: string[][];
  }
  type FileOrMem = string | { type: 'mem'; data?: Uint8Array };
  interface Logger {
    info(...a: unknown[]): void;
    debug(...a: unknown[]): void;
    warn(...a: unknown[]): void;
    error(...a: unknown[]): void;
  }
  export const curves: { getCurveFromName(name: string, options?: { singleThread?: boolean }): Promise<{ terminate(): Promise<void> }> };
  export const powersOfTau: {
    newAccumulator(curve: unknown, power: number, file: string, logger?: Logger): Promise<unknown>;
    contribute(oldFile: string, newFile: string, name: string, entropy: string, logger?: Logger): Promise<Uint8Array>;
    beacon(oldFile: string, newFile: string, name: string, beaconHash: string, iterExp: number, logger?: Logger): Promise<Uint8Array>;
    preparePhase2(oldFile: string, newFile: string, logger?: Logger): Promise<void>;
  };
  export const zKey: {
    newZKey(r1cs: FileOrMem, ptau: FileOrMem, zkey: FileOrMem, logger?: Logger): Promise<Uint8Array>;
    contribute(oldZkey: FileOrMem, newZkey: FileOrMem, name: string, entropy: string, logger?: Logger): Promise<Uint8Array>;
    beacon(oldZkey: FileOrMem, newZkey: FileOrMem, name: string, beaconHash: string, iterExp: number, logger?: Logger): Promise<Uint8Array>;
    exportVerificationKey(zkey: FileOrMem, logger?: Logger): Promise<VerificationKey>;
    verifyFromR1cs(r1cs: FileOrMem, ptau: FileOrMem, zkey: FileOrMem, logger?: Logger): Promise<boolean>;
    exportSolidityVerifier(zkey: FileOrMem, templates: unknown, logger?: Logger): Promise<string>;
    verifyFromR1cs(r1cs: FileOrMem, ptau: FileOrMem, zkey: FileOrMem, logger?: Logger): Promise<boolean>;
  };
  export const groth16: {
    prove(zkey: FileOrMem, wtns: FileOrMem, logger?: Logger): Promise<{ proof: Groth16Proof; publicSignals: string[] }>;
    fullProve(input: Record<string, unknown>, wasm: FileOrMem, zkey: FileOrMem, logger?: Logger): Promise<{ proof: Groth16Proof; publicSignals: string[] }>;
    verify(vkey: VerificationKey, publicSignals: string[], proof: Groth16Proof, logger?: Logger): Promise<boolean>;
    exportSolidityCallData(proof: Groth16Proof, publicSignals: string[]): Promise<string>;
  };
}

declare module 'circomlibjs' {
  export interface Poseidon {
    (inputs: (bigint | number | string)[]): Uint8Array;
    F: { toObject(e: Uint8Array): bigint };
  }
  export function buildPoseidon(): Promise<Poseidon>;
}
