import type { Ceremonies } from '../store/ceremonies.ts';
import type { Models } from '../store/models.ts';
import type { Proofs } from '../store/proofs.ts';
import type { Stores } from '../store/stores.ts';
import type { Versions } from '../store/versions.ts';
import { Heartbeats } from './heartbeats.ts';

/**
 * What a worker reads and writes: the database directly (BullMQ workers), or the API
 * process's database over IPC (the embedded queue's worker process). Every method takes
 * and returns plain JSON (timestamps as ISO strings), so it can be called over IPC.
 */
export interface JobRecords {
  getModel: Models['get'];
  /** The calibration rows a tenant uploaded with a model, for its compile's fidelity report. */
  modelCalibration: Models['calibration'];
  dropModelCalibration: Models['dropCalibration'];
  setModelStatus: Models['setStatus'];
  /** Records a stage the model's compile or setup reached (GET /v1/models/{id} shows it). */
  addModelStage: Models['addStage'];
  failModel: Models['fail'];
  latestVersion: Versions['latest'];
  recordVersion: Versions['record'];
  proofJob: Proofs['job'];
  setProofStage: Proofs['setStage'];
  finishProof: Proofs['finish'];
  failProof: Proofs['fail'];
  heartbeat: Heartbeats['beat'];
  /**
   * A compiled model whose setup is a ceremony: its ceremony row (the initial key as base
   * and current key) and the model in status 'ceremony', in one transaction.
   */
  startCeremony: Ceremonies['start'];
}

/** The record methods a worker calls, over the stores of one database. */
export function jobRecords(stores: Stores): JobRecords {
  const heartbeats = new Heartbeats(stores.db);
  return {
    getModel: (tenant, id) => stores.models.get(tenant, id),
    modelCalibration: (tenant, id) => stores.models.calibration(tenant, id),
    dropModelCalibration: (tenant, id) => stores.models.dropCalibration(tenant, id),
    setModelStatus: (tenant, id, status, reason) => stores.models.setStatus(tenant, id, status, reason),
    addModelStage: (tenant, id, e) => stores.models.addStage(tenant, id, e),
    failModel: (tenant, id, reason) => stores.models.fail(tenant, id, reason),
    latestVersion: (tenant, modelId) => stores.versions.latest(tenant, modelId),
    recordVersion: (tenant, modelId, v) => stores.versions.record(tenant, modelId, v),
    proofJob: (id) => stores.proofs.job(id),
    setProofStage: (id, status, stage) => stores.proofs.setStage(id, status, stage),
    finishProof: (id, r) => stores.proofs.finish(id, r),
    failProof: (id, reason) => stores.proofs.fail(id, reason),
    heartbeat: (worker, kind) => heartbeats.beat(worker, kind),
    startCeremony: (tenant, modelId, c) => stores.ceremonies.start(tenant, modelId, c),
  };
}
