import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Writes JSON through a temp file and a rename: readers see the old or the new document, never half. */
export async function writeJsonAtomic(file: string, doc: unknown, opts: { mode?: number } = {}): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  // The mode applies from creation: the file is never readable by others, not even briefly.
  await writeFile(tmp, JSON.stringify(doc, null, 2), { mode: opts.mode ?? 0o644 });
  await rename(tmp, file);
}

export async function readJson<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}
