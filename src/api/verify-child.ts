// A verification process of VerifyProcesses: answers IPC requests one at a time.
// Errors a caller caused (a malformed bundle, a refused key) come back as values.
import type { Groth16Proof, VerificationKey } from 'snarkjs';
import { serveTasks } from '../core/child-pool.ts';
import { isZkinferError } from '../core/errors.ts';
import type { BundleModel, ModelDescriptor } from '../bundle/descriptor.ts';
import { sha256Text } from '../core/hash.ts';
import { assertUsableVkey } from '../prover/vkey.ts';
import { checkProof, verifyBundle } from '../verifier/index.ts';
import { parseProofParts } from '../bundle/checks.ts';
import { signalLayout } from '../bundle/decode.ts';

export type VerifyTask =
  | { kind: 'bundle'; bundle: unknown; vkey: VerificationKey; registered?: ModelDescriptor }
  | { kind: 'parts'; model: BundleModel; proof: unknown; publicSignals: unknown; vkey: VerificationKey };

export type VerifyTaskResult =
  | { ok: true; valid: boolean; reason: string; field: string | null; outputs: unknown; inputCommitment?: string | null; nonce?: string | null }
  | { ok: false; code: string; message: string; field?: string }
  | { ok: false; internal: string };

async function run(task: VerifyTask): Promise<VerifyTaskResult> {
  try {
    if (task.kind === 'bundle') {
      const r = await verifyBundle(task.bundle, { vkey: task.vkey, registered: task.registered });
      return { ok: true, valid: r.valid, reason: r.reason, field: r.field, outputs: r.outputs, inputCommitment: r.inputCommitment, nonce: r.nonce };
    }
    const parts = parseProofParts({ proof: task.proof, publicSignals: task.publicSignals });
    assertUsableVkey(task.vkey);
    const r = await checkProof(task.model, parts.proof as Groth16Proof, parts.publicSignals, task.vkey, { sha256: sha256Text, registered: task.model });
    const L = signalLayout(task.model);
    return {
      ok: true,
      ...r,
      inputCommitment: r.valid && !task.model.publicInput ? parts.publicSignals[L.input] : null,
      nonce: r.valid ? parts.publicSignals[L.nonce] : null,
    };
  } catch (e) {
    if (isZkinferError(e)) return { ok: false, code: e.code, message: e.message, field: e.field };
    return { ok: false, internal: (e as Error).message };
  }
}

serveTasks(run);
