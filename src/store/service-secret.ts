import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { artifactRoot } from '../core/artifacts.ts';

const SECRET_BYTES = 32;

/**
 * A secret of the service, by name: 32 random bytes in a file of its own (mode 0600, in a
 * 0700 folder) under `artifacts/secrets/`, made once by whichever process asks first. On one
 * machine (or a shared artifacts folder) every process reads the same secret; API nodes with
 * disks of their own are each given a copy of the file (README, "Several machines"). It is
 * kept out of the database on purpose, so a copy of the database (a backup, a dump) does not carry it.
 */
export async function serviceSecret(name: string, dir = path.join(artifactRoot(), 'secrets')): Promise<Buffer> {
  if (!/^[a-z0-9-]{1,64}$/.test(name)) throw new Error(`not a secret name: ${name}`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, `${name}.key`);
  const existing = await readSecret(file);
  if (existing) return existing;
  // Written whole to a temp file, then linked into place: link fails if another process made
  // the file first, and a reader never sees a half-written secret.
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(randomBytes(SECRET_BYTES));
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await link(tmp, file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  const made = await readSecret(file);
  if (!made) throw new Error(`the service secret ${file} is not ${SECRET_BYTES} bytes`);
  return made;
}

async function readSecret(file: string): Promise<Buffer | null> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  if (bytes.length !== SECRET_BYTES) throw new Error(`the service secret ${file} is not ${SECRET_BYTES} bytes: restore it or delete it`);
  // Readable by the service's user only, whatever made it.
  if (((await stat(file)).mode & 0o077) !== 0) await chmod(file, 0o600);
  return bytes;
}
