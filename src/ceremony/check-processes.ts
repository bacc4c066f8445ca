import { ChildPool } from '../core/child-pool.ts';
import type { CeremonyTask, CeremonyTaskResult } from './check-child.ts';
import { sourceFile } from '../core/package-root.ts';

/**
 * Runs ceremony checks (snarkjs `verifyFromR1cs`, seconds of CPU) and beacons in a child
 * process, one at a time, so they never hold the API's event loop. Started on first use.
 * `busy`: tasks waiting or running (the next one waits for all of these).
 */
export class CeremonyProcesses extends ChildPool<CeremonyTask, CeremonyTaskResult> {
  constructor() {
    super(sourceFile('ceremony', 'check-child.ts'), 1, 'ceremony process exited', (internal) => ({ ok: false, internal }));
  }
}
