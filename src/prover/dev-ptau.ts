import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import * as snarkjs from 'snarkjs';

/**
 * Generates a powers-of-tau file locally, for development only: one machine made
 * every contribution, so whoever ran it could forge proofs. Every artifact built from
 * it is marked as an insecure development setup.
 *
 * Phase 1 with one random contribution and a beacon, then `prepare phase2`.
 */
export async function generateDevPtau(power: number, outFile: string, log: (m: string) => void = () => {}): Promise<void> {
  const curve = await snarkjs.curves.getCurveFromName('bn128');
  const stage = (n: number) => `${outFile}.stage${n}`;
  try {
    log(`powers of tau 2^${power}: new accumulator`);
    await snarkjs.powersOfTau.newAccumulator(curve, power, stage(0));
    log('contribution (random entropy)');
    await snarkjs.powersOfTau.contribute(stage(0), stage(1), 'zkinfer development contribution', randomBytes(32).toString('hex'));
    log('beacon');
    await snarkjs.powersOfTau.beacon(stage(1), stage(2), 'zkinfer development beacon', randomBytes(32).toString('hex'), 10);
    log('prepare phase 2 (slow: Lagrange basis)');
    await snarkjs.powersOfTau.preparePhase2(stage(2), outFile);
  } finally {
    for (const n of [0, 1, 2]) await rm(stage(n), { force: true });
  }
}
