import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { UnrecoverableError } from 'bullmq';
import { isZkinferError, ZkinferError } from '../core/errors.ts';
import { compileContracts } from '../chain/compile.ts';
import { ceremonySetup, copyAtomically, initCeremony } from '../ceremony/index.ts';
import type { Config } from '../service/config.ts';
import { bundleModel, compileModel, type CompiledModel, describeInput, pickPtau, proveModel, type SetupOptions, setupModel } from '../pipeline/index.ts';
import { PHASE1_ENV, ptauFileFor, serviceSetupOptions } from '../service/phase1.ts';
import type { ModelLimits } from '../model/limits.ts';
import type { FidelityHints } from '../quant/fidelity.ts';
import { hashFile, sha256Text } from '../core/hash.ts';
import type { CircuitSetup } from '../prover/setup.ts';
import { ceremonyKeyFile } from '../store/ceremonies.ts';
import { artifactDir } from '../core/artifacts.ts';
import { artifactStore } from '../core/artifact-store.ts';
import type { ModelRecord } from '../store/models.ts';
import type { NewVersion } from '../store/versions.ts';
import { saveProofResult } from '../store/proof-files.ts';
import { uploadDir, uploadFile } from '../store/uploads.ts';
import { jobSeconds } from './job-metrics.ts';
import type { JobRecords } from './job-records.ts';
import { stage, type StageEvent, withProgress } from '../core/progress.ts';

/** The fidelity warnings of a service compile name the upload's fields, not CLI flags. */
export const REST_FIDELITY_HINTS: FidelityHints = {
  ranges: 'upload real inputs in the "calibration" file field, or declare "inputRange" fields',
  scale: 'raise the "scale" upload field',
  settings: (st) => `upload fields "scale" ${st.scaleBits} and "bits" ${st.bits}`,
  declare: (input) => `an "inputRange" field ${input}=lo:hi`,
};

/** What a worker applies to every job: the same limits the upload was checked with. */
export interface ProcessorOptions {
  limits?: Partial<ModelLimits>;
  /** The fidelity report's relative-error threshold (ZKINFER_MAX_RELATIVE_ERROR; default 1%). */
  maxRelativeError?: number;
  maxPtauPower?: number;
  /**
   * The phase 1 settings (ZKINFER_MODE, ZKINFER_PTAU, ZKINFER_PTAU_SHA256,
   * ZKINFER_ALLOW_DEV_SETUP), checked at start: every setup and ceremony uses the
   * configured file; without one, development files (refused in production mode).
   */
  phase1?: Pick<Config, 'mode' | 'ptau' | 'ptauSha256' | 'allowDevSetup'>;
  /** Told every stage a compile reaches (the worker logs it); the records keep them too. */
  onStage?: (tenant: string, modelId: string, e: StageEvent) => void;
}

export interface Processors {
  compile(tenant: string, modelId: string): Promise<void>;
  prove(proofId: string): Promise<void>;
}

function deterministic(e: unknown): e is ZkinferError {
  return isZkinferError(e) && e.code !== 'ARTIFACT_CORRUPT';
}

/** What a version holds besides its key, from the compile. */
function pendingOf(m: CompiledModel): Omit<NewVersion, 'vkey' | 'vkeyHash' | 'setup'> {
  return {
    circuitHash: m.compiled.hash,
    circuitSourceSha256: sha256Text(m.circuit.source),
    commitment: m.modelCommitment.toString(),
    descriptor: bundleModel(m),
    summary: { inputs: m.ir.inputs.map(describeInput), outputSize: m.ir.outputSize, decisionSize: m.circuit.decisionSize, head: m.ir.head },
    constraints: m.compiled.constraints,
    layers: m.circuit.plan,
    fidelity: m.fidelity,
  };
}

/** The key version a compile and setup produced, as the records keep it. */
function versionOf(m: CompiledModel, setup: CircuitSetup): NewVersion {
  return { ...pendingOf(m), vkey: setup.vkey, vkeyHash: setup.provenance.vkeySha256, setup: setup.provenance };
}

/**
 * Starts a model's REST ceremony: the initial key (snarkjs newZKey, no contribution) stored
 * by its sha256 beside the circuit, and the ceremony row; the model then waits in status
 * 'ceremony' until its owner finalizes it.
 */
async function startCeremony(records: JobRecords, tenant: string, modelId: string, m: CompiledModel, setupOpts: SetupOptions): Promise<void> {
  const ptau = await pickPtau(m, setupOpts);
  const tmp = artifactDir('tmp', `ceremony-${randomUUID()}`);
  try {
    const init = await initCeremony(m, ptau, tmp);
    const sha = init.record.zkeySha256;
    await copyAtomically(init.zkey, ceremonyKeyFile(m.compiled.hash, ptau.sha256, sha));
    await artifactStore().putFiles([ceremonyKeyFile(m.compiled.hash, ptau.sha256, sha)]);
    await records.startCeremony(tenant, modelId, {
      circuitHash: m.compiled.hash,
      r1csSha256: init.record.r1csSha256,
      csHash: init.record.csHash,
      ptau: init.record.ptau,
      baseSha256: sha,
      pending: { ...pendingOf(m), wasmSha256: await hashFile(m.compiled.wasm, 'sha256'), insecure: ptau.insecure },
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * The work behind each queued job. Deterministic failures (a bad model, a bad input) are
 * recorded and thrown as UnrecoverableError so BullMQ does not retry them; other errors
 * propagate and are retried.
 */
export function makeProcessors(records: JobRecords, opts: ProcessorOptions = {}): Processors {
  const setupOpts = serviceSetupOptions({
    mode: 'development',
    ptau: null,
    ptauSha256: null,
    allowDevSetup: false,
    ...opts.phase1,
    maxPtauPower: opts.maxPtauPower,
  });
  const warm = new Map<string, Promise<{ m: CompiledModel; setup: CircuitSetup }>>();
  const compiledWarm = new Map<string, Promise<CompiledModel>>();
  type Rec = Pick<ModelRecord, 'tenant' | 'id' | 'fileName' | 'settings' | 'publicInput' | 'inputQuant' | 'labels' | 'blinding' | 'explain'> & {
    setup?: ModelRecord['setup'];
  };

  /**
   * Compiles the stored upload, refusing bytes that do not hash to the model id. With the
   * tenant's calibration rows (a compile job), the fidelity report runs on them: that
   * compile is the tenant's own, not shared with another tenant's upload of the same model.
   */
  function compiled(rec: Rec, calibration: number[][] | null = null): Promise<CompiledModel> {
    const key = calibration ? `${rec.tenant}/${rec.id}` : rec.id;
    let p = compiledWarm.get(key);
    if (!p) {
      p = (async () => {
        // Exactly what the upload fixed: its settings, input quantization and labels, under
        // the same limits.
        // A shared store: the upload the API stored, into this node's folder (checked by hash).
        await artifactStore().materialize(uploadDir(rec.id));
        const m = await compileModel(uploadFile(rec.id, rec.fileName), {
          settings: rec.settings,
          publicInput: rec.publicInput,
          inputQuant: rec.inputQuant ?? null,
          ...(rec.labels ? { labels: rec.labels } : {}),
          ...(rec.blinding ? { visibility: 'private' as const, blinding: BigInt(rec.blinding) } : {}),
          // Resolved at upload (a default baseline from all its calibration rows): used as stored.
          explainSettings: rec.explain ?? null,
          limits: opts.limits,
          samples: 16,
          // Only for the fidelity report: the input quantization above is what the upload fixed.
          ...(calibration ? { calibration } : {}),
          fidelityHints: REST_FIDELITY_HINTS,
          ...(opts.maxRelativeError !== undefined ? { maxRelativeError: opts.maxRelativeError } : {}),
        });
        if (m.modelId !== rec.id) {
          throw new ZkinferError(
            'MODEL_UNREADABLE',
            `the stored upload hashes to ${m.modelId}, not to the model id ${rec.id}: refusing to compile it`,
            'model',
          );
        }
        return m;
      })();
      compiledWarm.set(key, p);
      p.catch(() => compiledWarm.delete(key));
    }
    return p;
  }

  /**
   * The compiled model and its key: the service's own setup, or for a ceremony model the
   * finalized key of its latest version (never a service setup).
   */
  function prepared(rec: Rec) {
    const key = rec.setup === 'ceremony' ? `${rec.tenant}/${rec.id}` : rec.id;
    let p = warm.get(key);
    if (!p) {
      p = (async () => {
        const m = await compiled(rec);
        if (rec.setup !== 'ceremony') return { m, setup: await setupModel(m, setupOpts) };
        const v = await records.latestVersion(rec.tenant, rec.id);
        if (!v) throw new ZkinferError('NOT_FOUND', 'the model\u2019s ceremony is not finalized: it has no key yet', 'model');
        // The ceremony's own phase 1 (recorded when it started), not whatever is configured now.
        const ptauFile = await ptauFileFor(v.setup.ptau, setupOpts.ptau);
        if (!ptauFile) {
          throw new ZkinferError(
            'SETTINGS',
            `the ceremony was made on the powers of tau ${v.setup.ptau.name} (sha256 ${v.setup.ptau.sha256}), which is not the ` +
              `configured ${PHASE1_ENV.ptau}: configure that file to prove with this key`,
            PHASE1_ENV.ptau,
          );
        }
        const keyFile = ceremonyKeyFile(v.circuitHash, v.setup.ptau.sha256, v.setup.zkeySha256);
        // A shared store: the final key the API stored, into this node's folder (checked by hash).
        await artifactStore().fetch(keyFile);
        const setup = await ceremonySetup(m, keyFile, ptauFile, v.vkey);
        return { m, setup: { ...setup, provenance: { ...setup.provenance, insecure: v.setup.insecure, ptau: v.setup.ptau, ceremony: v.setup.ceremony } } };
      })();
      warm.set(key, p);
      p.catch(() => warm.delete(key));
    }
    return p;
  }

  /**
   * A compile job, its stages recorded in order (one write after another) as the pipeline
   * reaches them; a record that cannot be written is skipped: progress never fails a job.
   */
  async function compile(tenant: string, modelId: string): Promise<void> {
    let writes = Promise.resolve();
    const report = (e: StageEvent) => {
      opts.onStage?.(tenant, modelId, e);
      writes = writes.then(() => records.addModelStage(tenant, modelId, e)).catch(() => undefined);
    };
    try {
      await withProgress(report, () => compileJob(tenant, modelId));
    } finally {
      await writes;
    }
  }

  async function compileJob(tenant: string, modelId: string): Promise<void> {
    const rec = await records.getModel(tenant, modelId);
    if (!rec) throw new UnrecoverableError(`model ${modelId} is not registered for tenant ${tenant}`);
    if (rec.status === 'failed' || rec.status === 'ceremony') return;
    if (rec.status === 'ready' && (await records.latestVersion(tenant, modelId))) return;
    await records.setModelStatus(tenant, modelId, 'compiling');
    const t0 = performance.now();
    try {
      const calibration = await records.modelCalibration(tenant, modelId);
      if (rec.setup === 'ceremony') {
        await startCeremony(records, tenant, modelId, await compiled(rec, calibration), setupOpts);
        if (calibration) await records.dropModelCalibration(tenant, modelId);
        jobSeconds.observe({ queue: 'compile', stage: 'compile+ceremony', outcome: 'ok' }, (performance.now() - t0) / 1000);
        return;
      }
      const { m: shared, setup } = await prepared(rec);
      // The same circuit (compiled once, cached), with the fidelity report on this tenant's rows.
      const m = calibration ? await compiled(rec, calibration) : shared;
      await records.recordVersion(tenant, modelId, versionOf(m, setup));
      // The rows were kept for this report only (a retry after a crash still finds them).
      if (calibration) await records.dropModelCalibration(tenant, modelId);
      jobSeconds.observe({ queue: 'compile', stage: 'compile+setup', outcome: 'ok' }, (performance.now() - t0) / 1000);
      // Compile the Solidity contracts now, off the API's event loop: the API's routes then
      // find them in the content-addressed cache. A failure here is reported by those routes.
      stage('contracts');
      await compileContracts(bundleModel(m), setup.vkey).catch(() => undefined);
    } catch (e) {
      if (deterministic(e)) {
        await records.failModel(tenant, modelId, `${e.code}: ${e.message}`);
        await records.dropModelCalibration(tenant, modelId);
        throw new UnrecoverableError(e.message);
      }
      throw e;
    }
  }

  async function prove(proofId: string): Promise<void> {
    const job = await records.proofJob(proofId);
    if (!job) throw new UnrecoverableError(`proof ${proofId} is not registered`);
    const { proof, model, request } = job;
    if (proof.status === 'done' || proof.status === 'failed') return;
    if (!model || model.status !== 'ready' || !request) {
      const why = !request ? 'the private request is missing' : `the model is ${model?.status ?? 'not registered'}`;
      await records.failProof(proofId, why);
      throw new UnrecoverableError(why);
    }
    const t0 = performance.now();
    await records.setProofStage(proofId, 'proving', 'witness');
    try {
      const { m, setup } = await prepared(model);
      // The key this zkinfer proves with: the latest version when circuit and key match,
      // else a new version (the earlier ones stay, so their proofs keep verifying).
      const latest = await records.latestVersion(model.tenant, model.id);
      const version =
        latest && latest.circuitHash === m.compiled.hash && latest.vkeyHash === setup.provenance.vkeySha256
          ? latest.version
          : await records.recordVersion(model.tenant, model.id, versionOf(m, setup));
      const r = await proveModel(m, setup, request.input, {
        salt: request.salt !== undefined ? BigInt(request.salt) : undefined,
        nonce: request.nonce !== undefined ? BigInt(request.nonce) : undefined,
      });
      jobSeconds.observe({ queue: 'prove', stage: 'witness', outcome: 'ok' }, r.timings.witnessMs / 1000);
      jobSeconds.observe({ queue: 'prove', stage: 'prove', outcome: 'ok' }, r.timings.proveMs / 1000);
      jobSeconds.observe({ queue: 'prove', stage: 'verify', outcome: 'ok' }, r.timings.verifyMs / 1000);
      // On disk (and already verified by the prover) before the record says done.
      await saveProofResult(proofId, r.bundle, r.receipt);
      await records.finishProof(proofId, {
        modelVersion: version,
        worker: `${hostname()}:${process.pid}`,
        timings: { ...r.timings, totalMs: performance.now() - t0 },
        ...(r.warnings.length ? { warnings: r.warnings } : {}),
      });
    } catch (e) {
      if (deterministic(e)) {
        await records.failProof(proofId, `${e.code}: ${e.message}`);
        throw new UnrecoverableError(e.message);
      }
      throw e;
    }
  }

  return { compile, prove };
}
