import { AsyncLocalStorage } from 'node:async_hooks';
import fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as snarkjs from 'snarkjs';

type VerifyArgs = Parameters<typeof snarkjs.zKey.verifyFromR1cs>;

/** The files opened (through fs.promises.open) inside each `closingOpenedFiles` call. */
const scope = new AsyncLocalStorage<Set<FileHandle>>();
let tracking = false;

/**
 * Runs `fn`, then closes every file it opened through `fs.promises.open` and left open.
 * snarkjs (through fastfile) opens files so and does not always close them (its zkey check
 * leaves the ptau open, and the zkey when the check fails): Node then closes them on garbage
 * collection, printing "Closing file descriptor ... on garbage collection" and DEP0137.
 * Only the files of this call are closed (an async context, not the process's other files).
 */
export async function closingOpenedFiles<T>(fn: () => Promise<T>): Promise<T> {
  if (!tracking) {
    tracking = true;
    const promises = fs.promises as { open: typeof fs.promises.open };
    const open = promises.open;
    promises.open = async (...args: Parameters<typeof open>) => {
      const fh = await open(...args);
      const mine = scope.getStore();
      mine?.add(fh);
      return fh;
    };
  }
  const mine = new Set<FileHandle>();
  try {
    return await scope.run(mine, fn);
  } finally {
    // A closed handle's fd is -1.
    await Promise.all([...mine].filter((fh) => fh.fd !== -1).map((fh) => fh.close().catch(() => {})));
  }
}

/** snarkjs `zKey.verifyFromR1cs` (is the zkey this r1cs's, made on this ptau?), its files closed after it. */
export function verifyZkeyFromR1cs(...args: VerifyArgs): Promise<boolean> {
  return closingOpenedFiles(() => snarkjs.zKey.verifyFromR1cs(...args));
}
