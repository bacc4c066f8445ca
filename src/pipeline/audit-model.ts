import { type AuditInput, type AuditReport, auditCircuitKey } from '../verifier/audit.ts';
import { type CompiledModel, compileModel } from './compile-model.ts';

/**
 * Checks that a published key encodes a published model: recompiles the model's circuit
 * here (deterministic: same circuit hash and r1cs on any machine), checks the zkey against
 * that r1cs and the ptau link by link (snarkjs `zKey.verifyFromR1cs`: every phase-2
 * contribution, the beacon, the circuit's sections), and that the key exported from the
 * zkey is the published key. Reports every link and the first that broke; throws only
 * for input it cannot use (missing files, a model that does not load).
 */
export async function auditKey(input: AuditInput): Promise<AuditReport> {
  const t0 = performance.now();
  (input.log ?? (() => {}))(`compiling ${input.model} ...`);
  const { settings, publicInput, calibration, inputRanges, inputQuant, labels, visibility, blinding, explain, explainSettings, limits } = input;
  const m: CompiledModel = await compileModel(input.model, {
    settings,
    publicInput,
    calibration,
    inputRanges,
    inputQuant,
    labels,
    visibility,
    blinding,
    explain,
    explainSettings,
    limits,
    fidelity: false,
  });
  const { modelId, descriptor, modelCommitment } = m;
  return auditCircuitKey({ modelId, descriptor, modelCommitment, r1cs: m.compiled.r1cs, constraints: m.compiled.constraints }, input, t0);
}
