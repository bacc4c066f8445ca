// A verification process of VerifyProcesses: answers IPC requests one at a time.
// Errors a caller caused (a malformed bundle, a refused key) come back as values.
import type { Groth16Proof, VerificationKey } from 'snarkjs';
import { isZkinferError } from '../errors.ts';
import type { BundleModel } from '../prover/bundle.ts';
import { checkProof, parseProofParts, verifyBundle } from '../verifier/index.ts';

export type VerifyTask =
  | { kind: 'bundle'; bundle: unknown; vkey: VerificationKey }
  | { kind: 'parts'; model: BundleModel; proof: unknown; publicSignals: unknown; vkey: VerificationKey };

export type VerifyTaskResult =
  | { ok: true; valid: boolean; reason: string; outputs: unknown }
  | { ok: false; code: string; message: string; field?: string }
  | { ok: false; internal: string };

async function run(task: VerifyTask): Promise<VerifyTaskResult> {
  try {
    if (task.kind === 'bundle') {
      const r = await verifyBundle(task.bundle, { vkey: task.vkey });
      return { ok: true, valid: r.valid, reason: r.reason, outputs: r.outputs };
    }
    const parts = parseProofParts({ proof: task.proof, publicSignals: task.publicSignals });
    return { ok: true, ...(await checkProof(task.model, parts.proof as Groth16Proof, parts.publicSignals, task.vkey)) };
  } catch (e) {
    if (isZkinferError(e)) return { ok: false, code: e.code, message: e.message, field: e.field };
    return { ok: false, internal: (e as Error).message };
  }
}

if (process.send) {
  let chain = Promise.resolve();
  process.on('message', (m: { id: number; task: VerifyTask }) => {
    chain = chain.then(async () => {
      process.send!({ id: m.id, result: await run(m.task) });
    });
  });
  process.on('disconnect', () => process.exit(0));
}
