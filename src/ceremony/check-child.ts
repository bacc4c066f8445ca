// The ceremony process of CeremonyProcesses: checks uploaded contributions and applies
// beacons (seconds of CPU each) off the API's event loop, one task at a time. Errors a
// caller caused (a refused contribution) come back as values.
import { compileContracts } from '../chain/compile.ts';
import { serveTasks } from '../core/child-pool.ts';
import { isZkinferError, ZkinferError } from '../core/errors.ts';
import { hashFile } from '../core/hash.ts';
import type { BundleModel } from '../bundle/descriptor.ts';
import { checkContribution, finalize } from './ceremony.ts';
import type { Contribution } from './chain.ts';

export type CeremonyTask =
  | { kind: 'contribution'; base: string; candidate: string; r1cs: string; r1csSha256: string; ptau: string }
  | {
      kind: 'finalize';
      zkey: string;
      outDir: string;
      beacon: string;
      iterationsExp: number;
      r1cs: string;
      r1csSha256: string;
      ptau: string;
      descriptor: BundleModel;
    };

export type CeremonyTaskResult =
  | { ok: true; kind: 'contribution'; added: Contribution; chain: Contribution[]; ms: number }
  | { ok: true; kind: 'finalize'; zkey: string; zkeySha256: string; vkey: unknown; vkeySha256: string; hash: string; chain: Contribution[]; ms: number }
  | { ok: false; code: string; message: string; field?: string }
  | { ok: false; internal: string };

async function run(task: CeremonyTask): Promise<CeremonyTaskResult> {
  const t0 = performance.now();
  try {
    // The circuit the ceremony is for, as it was when the ceremony started.
    if ((await hashFile(task.r1cs)) !== task.r1csSha256)
      throw new ZkinferError('ARTIFACT_CORRUPT', 'the stored r1cs no longer matches the ceremony\u2019s', 'r1cs');
    if (task.kind === 'contribution') {
      const r = await checkContribution(task.base, task.candidate, task.r1cs, task.ptau);
      return { ok: true, kind: 'contribution', added: r.added, chain: r.chain.contributions, ms: performance.now() - t0 };
    }
    const r = await finalize(task.zkey, task.outDir, { beacon: task.beacon, iterationsExp: task.iterationsExp, r1cs: task.r1cs, ptau: task.ptau });
    // The Solidity contracts for the new key, into their content-addressed cache now (as the
    // worker does for the service's own setup): the chain routes then never run solc.
    await compileContracts(task.descriptor, r.vkey).catch(() => undefined);
    return {
      ok: true,
      kind: 'finalize',
      zkey: r.zkey,
      zkeySha256: await hashFile(r.zkey),
      vkey: r.vkey,
      vkeySha256: r.vkeySha256,
      hash: r.hash,
      chain: r.chain.contributions,
      ms: performance.now() - t0,
    };
  } catch (e) {
    if (isZkinferError(e)) return { ok: false, code: e.code, message: e.message, field: e.field };
    return { ok: false, internal: (e as Error).message };
  }
}

serveTasks(run);
