// Files snarkjs leaves open (#25, item 9): `closingOpenedFiles` closes what its call opened
// through fs.promises.open (as fastfile opens the ptau and zkey), and nothing else.
import fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { closingOpenedFiles } from '../../src/prover/zkey-verify.ts';
import { LOAN_MODEL } from '../helpers/paths.ts';

describe('closingOpenedFiles', () => {
  it('closes the files its call left open, keeps the ones it closed closed, and leaves other files alone', async () => {
    const outside = await fs.promises.open(LOAN_MODEL, 'r');
    let leaked: FileHandle | undefined;
    let closed: FileHandle | undefined;
    const result = await closingOpenedFiles(async () => {
      leaked = await fs.promises.open(LOAN_MODEL, 'r');
      closed = await fs.promises.open(LOAN_MODEL, 'r');
      await closed.close();
      await new Promise((r) => setTimeout(r, 5));
      return 'done';
    });
    // Opened concurrently, outside the call's async context.
    const concurrent = closingOpenedFiles(() => new Promise((r) => setTimeout(r, 50)));
    const during = await fs.promises.open(LOAN_MODEL, 'r');
    await concurrent;
    expect(result).toBe('done');
    expect(leaked!.fd).toBe(-1);
    expect(closed!.fd).toBe(-1);
    expect(outside.fd).toBeGreaterThan(0);
    expect(during.fd).toBeGreaterThan(0);
    await outside.close();
    await during.close();
  });

  it('closes them when the call throws, and passes the error on', async () => {
    let leaked: FileHandle | undefined;
    await expect(
      closingOpenedFiles(async () => {
        leaked = await fs.promises.open(LOAN_MODEL, 'r');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(leaked!.fd).toBe(-1);
  });
});
