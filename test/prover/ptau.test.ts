import { copyFile, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUNDLED_DEV_PTAU, developmentPtau, operatorPtau, readPtauPower, requiredPower } from '../../src/prover/index.ts';

describe('powers of tau', () => {
  it('uses the bundled development file, hash-checked and marked insecure', async () => {
    const p = await developmentPtau(12);
    expect(p).toMatchObject({ kind: 'development', insecure: true, power: 13, sha256: BUNDLED_DEV_PTAU.sha256 });
    expect(await readPtauPower(BUNDLED_DEV_PTAU.file)).toBe(13);
  });

  it('names an operator file by its bytes: the development file stays development, pinned or not', async () => {
    await expect(operatorPtau(BUNDLED_DEV_PTAU.file, 10, 'ab'.repeat(32))).rejects.toThrow(/does not match the pinned/);
    // A pin says which bytes the operator expects, not what they are: still development, insecure.
    const pinned = await operatorPtau(BUNDLED_DEV_PTAU.file, 10, BUNDLED_DEV_PTAU.sha256);
    expect(pinned).toMatchObject({ kind: 'development', insecure: true, power: 13, name: 'zkinfer-dev-13' });
    expect(await operatorPtau(BUNDLED_DEV_PTAU.file, 10)).toMatchObject({ kind: 'development', insecure: true });
    await expect(operatorPtau(BUNDLED_DEV_PTAU.file, 14, BUNDLED_DEV_PTAU.sha256)).rejects.toMatchObject({
      code: 'MODEL_TOO_LARGE',
      message: expect.stringMatching(/needs powers of tau 2\^14; the ptau file zkinfer-dev-13 \(ptau\) has 2\^13/),
    });
  });

  it('refuses a missing or non-ptau file', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-ptau-'));
    await expect(operatorPtau(path.join(dir, 'none.ptau'), 10)).rejects.toMatchObject({ code: 'SETTINGS' });
    const fake = path.join(dir, 'fake.ptau');
    await writeFile(fake, Buffer.alloc(128, 7));
    await expect(operatorPtau(fake, 10)).rejects.toThrow(/not a powers-of-tau file/);
  });

  it('finds a corrupted bundled file by its hash', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'zkinfer-ptau-'));
    await copyFile(BUNDLED_DEV_PTAU.file, path.join(dir, 'copy.ptau'));
    // Pinned hash of a different file: refused even though it is a valid ptau.
    await expect(operatorPtau(path.join(dir, 'copy.ptau'), 10, '00'.repeat(32))).rejects.toMatchObject({ code: 'SETTINGS' });
  });

  it('sizes the setup to the circuit', () => {
    expect(requiredPower(1000, 5)).toBe(10);
    expect(requiredPower(8000, 5)).toBe(13);
    expect(requiredPower(8190, 5)).toBe(14);
  });
});
