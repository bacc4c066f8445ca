import { hostname } from 'node:os';
import path from 'node:path';
import { UnrecoverableError } from 'bullmq';
import { isZkinferError, ZkinferError } from '../errors.ts';
import { compileContracts } from '../chain/compile.ts';
import { bundleModel, compileModel, type CompiledModel, proveModel, setupModel } from '../pipeline/index.ts';
import type { CircuitSetup } from '../prover/setup.ts';
import { ModelStore } from '../store/model-store.ts';
import { writeJsonAtomic } from '../store/json-file.ts';
import { jobSeconds } from './job-metrics.ts';
import { ProofStore } from '../store/proof-store.ts';

/**
 * The work behind each queued job. Deterministic failures (a bad model, a bad input)
 * are recorded and thrown as UnrecoverableError so BullMQ does not retry them; other
 * errors propagate and are retried with backoff.
 */
const models = new ModelStore();
const proofs = new ProofStore();
const warm = new Map<string, Promise<{ m: CompiledModel; setup: CircuitSetup }>>();

function prepared(modelId: string, file: string, settings: CompiledModel['settings'], publicInput: boolean) {
  let p = warm.get(modelId);
  if (!p) {
    p = (async () => {
      const m = await compileModel(file, { settings, publicInput, samples: 16 });
      return { m, setup: await setupModel(m) };
    })();
    warm.set(modelId, p);
    p.catch(() => warm.delete(modelId));
  }
  return p;
}

function deterministic(e: unknown): e is ZkinferError {
  return isZkinferError(e) && e.code !== 'ARTIFACT_CORRUPT';
}

/** Writes the key and marks the model ready with what its compile and setup produced. */
async function recordReady(modelId: string, m: CompiledModel, setup: CircuitSetup): Promise<void> {
  await writeJsonAtomic(path.join(models.dir(modelId), 'vkey.json'), setup.vkey);
  await models.update(modelId, {
    status: 'ready',
    reason: undefined,
    inputs: m.ir.inputs.map((i) => ({ name: i.name, size: i.size })),
    outputSize: m.ir.outputSize,
    decisionSize: m.circuit.decisionSize,
    head: m.ir.head,
    commitment: m.modelCommitment.toString(),
    descriptor: bundleModel(m),
    layers: m.circuit.plan,
    constraints: m.compiled.constraints,
    fidelity: m.fidelity,
    vkeyHash: setup.provenance.vkeySha256,
    setup: setup.provenance,
  });
  // Compile the Solidity contracts now, off the API's event loop: the API's routes then
  // find them in the content-addressed cache. A failure here is reported by those routes.
  await compileContracts(bundleModel(m), setup.vkey).catch(() => undefined);
}

export async function processCompile(modelId: string): Promise<void> {
  const rec = await models.get(modelId);
  if (!rec) throw new UnrecoverableError(`model ${modelId} is not registered`);
  // A record from an older version may lack fields; compiling again (from cache) fills them in.
  if (rec.status === 'ready' && rec.descriptor) return;
  await models.update(modelId, { status: 'compiling' });
  const t0 = performance.now();
  try {
    const { m, setup } = await prepared(modelId, models.modelFile(rec), rec.settings, rec.publicInput === true);
    await recordReady(modelId, m, setup);
    jobSeconds.observe({ queue: 'compile', stage: 'compile+setup', outcome: 'ok' }, (performance.now() - t0) / 1000);
  } catch (e) {
    if (deterministic(e)) {
      await models.update(modelId, { status: 'failed', reason: `${e.code}: ${e.message}` });
      throw new UnrecoverableError(e.message);
    }
    throw e;
  }
}

export async function processProve(proofId: string): Promise<void> {
  const rec = await proofs.get(proofId);
  if (!rec) throw new UnrecoverableError(`proof ${proofId} is not registered`);
  if (rec.status === 'done') return;
  const model = await models.get(rec.modelId);
  const req = await proofs.getRequest(proofId);
  if (!model || model.status !== 'ready' || !req) {
    await proofs.update(proofId, { status: 'failed', reason: 'model not ready or request missing' });
    throw new UnrecoverableError('model not ready or request missing');
  }
  const t0 = performance.now();
  await proofs.update(proofId, { status: 'proving', stage: 'witness' });
  try {
    const { m, setup } = await prepared(model.id, models.modelFile(model), model.settings, model.publicInput === true);
    // A record written by an older zkinfer (another circuit for the same model): bring
    // its key and commitment up to date first, so /v1/verify checks against this circuit.
    if (model.commitment !== m.modelCommitment.toString() || model.vkeyHash !== setup.provenance.vkeySha256) await recordReady(model.id, m, setup);
    const r = await proveModel(m, setup, req.input, {
      salt: req.salt !== undefined ? BigInt(req.salt) : undefined,
      nonce: req.nonce !== undefined ? BigInt(req.nonce) : undefined,
    });
    jobSeconds.observe({ queue: 'prove', stage: 'witness', outcome: 'ok' }, r.timings.witnessMs / 1000);
    jobSeconds.observe({ queue: 'prove', stage: 'prove', outcome: 'ok' }, r.timings.proveMs / 1000);
    jobSeconds.observe({ queue: 'prove', stage: 'verify', outcome: 'ok' }, r.timings.verifyMs / 1000);
    // On disk (and already verified by the prover) before the job is marked complete.
    await proofs.saveResult(proofId, r.bundle, r.receipt);
    await proofs.update(proofId, { status: 'done', stage: 'stored', reason: undefined, worker: `${hostname()}:${process.pid}`, timings: { ...r.timings, totalMs: performance.now() - t0 } });
    await proofs.dropRequest(proofId);
  } catch (e) {
    if (deterministic(e)) {
      await proofs.update(proofId, { status: 'failed', reason: `${e.code}: ${e.message}` });
      await proofs.dropRequest(proofId);
      throw new UnrecoverableError(e.message);
    }
    throw e;
  }
}
