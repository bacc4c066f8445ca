import { randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as snarkjs from 'snarkjs';
import type { VerificationKey } from 'snarkjs';
import type { CompiledCircuit } from '../circuit/index.ts';
import type { SetupProvenance } from '../bundle/format.ts';
import { haveDir, publishDir } from '../core/artifact-store.ts';
import { sha256Text } from '../core/hash.ts';
import type { PtauInfo } from './ptau.ts';
import { hashFile } from '../core/hash.ts';
import { assertUsableVkey, vkeyHashText } from './vkey.ts';
import { stage } from '../core/progress.ts';

export { assertUsableVkey, vkeyHashText } from './vkey.ts';

export interface CircuitSetup {
  dir: string;
  zkey: string;
  vkeyFile: string;
  vkey: VerificationKey;
  provenance: SetupProvenance;
  setupMs: number;
  cached: boolean;
}

/** Canonical hash of a verification key (sorted keys), so any copy can be compared. */
export function vkeyHash(vkey: VerificationKey): string {
  return sha256Text(vkeyHashText(vkey));
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/**
 * Groth16 phase 2 for a compiled circuit: a random contribution and a beacon on top
 * of the ptau, cached per (circuit, ptau) under the circuit's directory.
 */
export async function setupCircuit(c: CompiledCircuit, ptau: PtauInfo): Promise<CircuitSetup> {
  const dir = path.join(c.dir, `setup-${ptau.sha256.slice(0, 16)}`);
  const files = { zkey: path.join(dir, 'circuit.zkey'), vkeyFile: path.join(dir, 'vkey.json'), prov: path.join(dir, 'setup.json') };
  const t0 = performance.now();
  // A shared store: the key another node made is fetched (never made again: a setup is random).
  const cached = await haveDir(dir, files.prov);
  if (!cached) {
    await publishDir(dir, async (tmp) => {
      const z0 = path.join(tmp, 'c0.zkey');
      const z1 = path.join(tmp, 'c1.zkey');
      const zf = path.join(tmp, 'circuit.zkey');
      stage('phase2', `${c.constraints.toLocaleString('en-US')} constraints, ptau 2^${ptau.power}`);
      await snarkjs.zKey.newZKey(c.r1cs, ptau.file, z0);
      stage('contribution');
      const h1 = await snarkjs.zKey.contribute(z0, z1, 'zkinfer phase 2 contribution', randomBytes(32).toString('hex'));
      const beaconHash = randomBytes(32).toString('hex');
      stage('beacon');
      const h2 = await snarkjs.zKey.beacon(z1, zf, 'zkinfer phase 2 beacon', beaconHash, 10);
      stage('export-key');
      const vkey = await snarkjs.zKey.exportVerificationKey(zf);
      assertUsableVkey(vkey);
      await rm(z0);
      await rm(z1);
      await writeFile(path.join(tmp, 'vkey.json'), JSON.stringify(vkey, null, 1));
      const provenance: SetupProvenance = {
        insecure: ptau.insecure,
        ptau: { kind: ptau.kind, name: ptau.name, power: ptau.power, sha256: ptau.sha256 },
        phase2: [
          { name: 'zkinfer phase 2 contribution', hash: hex(h1) },
          { name: `zkinfer phase 2 beacon (${beaconHash}, 2^10 iterations)`, hash: hex(h2) },
        ],
        circuitHash: c.hash,
        r1csSha256: await hashFile(c.r1cs, 'sha256'),
        wasmSha256: await hashFile(c.wasm, 'sha256'),
        zkeySha256: await hashFile(zf, 'sha256'),
        vkeySha256: vkeyHash(vkey),
        createdAt: new Date().toISOString(),
      };
      await writeFile(path.join(tmp, 'setup.json'), JSON.stringify(provenance, null, 2));
    });
  }
  const vkey = JSON.parse(await readFile(files.vkeyFile, 'utf8')) as VerificationKey;
  assertUsableVkey(vkey);
  const provenance = JSON.parse(await readFile(files.prov, 'utf8')) as SetupProvenance;
  return { dir, zkey: files.zkey, vkeyFile: files.vkeyFile, vkey, provenance, setupMs: cached ? 0 : performance.now() - t0, cached };
}
