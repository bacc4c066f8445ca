import { fileURLToPath } from 'node:url';
import { ChildPool } from '../core/child-pool.ts';
import type { VerifyTask, VerifyTaskResult } from './verify-child.ts';

/**
 * Verification (a pairing check, ~20 ms of CPU) runs in child processes, not on the
 * API's event loop, so one verify does not hold up every other request.
 */
export class VerifyProcesses extends ChildPool<VerifyTask, VerifyTaskResult> {
  constructor(count = 2) {
    super(fileURLToPath(new URL('./verify-child.ts', import.meta.url)), count, 'verification process exited', (internal) => ({ ok: false, internal }));
  }
}
