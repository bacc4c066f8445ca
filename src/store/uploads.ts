import { randomUUID } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { artifactStore } from '../core/artifact-store.ts';
import { artifactDir, exists } from '../core/artifacts.ts';

const MODEL_ID = /^[0-9a-f]{64}$/;

/**
 * Uploaded model files, apart from every record: artifacts/uploads/<model id>/ holds the
 * ONNX file and its external data under the names the upload gave, nothing else. The id
 * is the hash of exactly these bytes (the worker checks it again before compiling).
 */
export function uploadDir(id: string): string {
  if (!MODEL_ID.test(id)) throw new Error(`not a model id: ${id}`);
  return artifactDir('upload', id);
}

export function uploadFile(id: string, name: string): string {
  return path.join(uploadDir(id), name);
}

/** Writes the files into a fresh private folder, to be read (and hashed) before publishing. */
export async function stageUpload(files: { name: string; bytes: Uint8Array }[]): Promise<string> {
  const dir = artifactDir('tmp', `upload-${randomUUID()}`);
  await mkdir(dir, { recursive: true });
  for (const f of files) await writeFile(path.join(dir, f.name), f.bytes, { flag: 'wx' });
  return dir;
}

/**
 * Moves a staged folder to its content address. When the folder exists (the same bytes
 * uploaded before, maybe by another tenant and under another model file name), a file it
 * lacks is added and a file whose bytes differ is replaced by the one just hashed.
 */
export async function publishUpload(staged: string, id: string): Promise<void> {
  const target = uploadDir(id);
  const names = await readdir(staged);
  await publishLocally(staged, target);
  // A shared store: the worker that compiles it (maybe on another node) fetches it from there.
  await artifactStore().putFiles(names.map((n) => path.join(target, n)));
}

async function publishLocally(staged: string, target: string): Promise<void> {
  try {
    await mkdir(path.dirname(target), { recursive: true });
    if (!(await exists(target))) {
      try {
        await rename(staged, target);
        return;
      } catch (e) {
        if (!(await exists(target))) throw e;
      }
    }
    for (const name of await readdir(staged)) {
      const mine = await readFile(path.join(staged, name));
      const theirs = await readFile(path.join(target, name)).catch(() => null);
      if (!theirs || !theirs.equals(mine)) await rename(path.join(staged, name), path.join(target, name));
    }
  } finally {
    await rm(staged, { recursive: true, force: true });
  }
}

export async function discardUpload(staged: string): Promise<void> {
  await rm(staged, { recursive: true, force: true });
}
