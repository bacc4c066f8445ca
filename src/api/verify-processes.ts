import { ChildPool } from '../core/child-pool.ts';
import type { VerifyTask, VerifyTaskResult } from './verify-child.ts';
import { sourceFile } from '../core/package-root.ts';

/**
 * Verification (a pairing check, ~20 ms of CPU) runs in child processes, not on the
 * API's event loop, so one verify does not hold up every other request.
 */
export class VerifyProcesses extends ChildPool<VerifyTask, VerifyTaskResult> {
  constructor(count = 2) {
    super(sourceFile('api', 'verify-child.ts'), count, 'verification process exited', (internal) => ({ ok: false, internal }));
  }
}
