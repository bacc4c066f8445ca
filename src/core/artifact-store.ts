import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { artifactDir, type ArtifactKind, artifactRoot, exists } from './artifacts.ts';

/**
 * Where artifacts that another process (maybe on another machine) wrote are found. Every
 * artifact has a local path under the artifact root (`ZKINFER_ARTIFACTS`); the store says
 * whether it must be fetched there first.
 *
 * - The local folder (the default, one machine or a shared disk): the folder is the store,
 *   every call but `materialize`/`fetch` (which say whether the path exists) does nothing.
 * - PostgreSQL (`pg-artifacts.ts`, with DATABASE_URL and REDIS_URL): files are kept by their
 *   sha256 in the database and the local folder is this node's cache of them, filled on first
 *   use and checked by hash.
 *
 * Paths are named relative to the artifact root (`circuits/<hash>/main.r1cs`), so every node
 * finds an artifact under the same name in its own folder.
 */
export interface ArtifactStore {
  /** 'local': the folder is the store; 'postgres': the folder is a cache. */
  readonly kind: 'local' | 'postgres';
  /**
   * A directory that publishDir just moved into place, as one unit: its files (names relative
   * to it) are recorded together. When another node recorded the same directory first, its
   * files replace the local ones (a setup is random: every node must prove with one key).
   */
  publishDir(dir: string, names: string[]): Promise<void>;
  /** Files written locally under the artifact root, recorded one by one, in the group of their folder. */
  putFiles(files: string[]): Promise<void>;
  /**
   * Makes a directory (a published unit, or the group of files put in it) present locally,
   * every file checked by hash. False when the store holds nothing under it.
   */
  materialize(dir: string): Promise<boolean>;
  /** Makes one file present locally, checked by hash; false when the store holds none. */
  fetch(file: string): Promise<boolean>;
  /** Forgets a file (the local copy is the caller's to delete). */
  remove(file: string): Promise<void>;
  /** Deletes stored bytes no name points at any more; how many (the reconciler's leader runs it). */
  sweep?(): Promise<number>;
}

/** The local folder: nothing to record, nothing to fetch. */
export const LOCAL_STORE: ArtifactStore = {
  kind: 'local',
  publishDir: async () => {},
  putFiles: async () => {},
  materialize: exists,
  fetch: exists,
  remove: async () => {},
};

let current: ArtifactStore = LOCAL_STORE;

/** The store this process uses: the local folder unless a shared one was configured at start. */
export function artifactStore(): ArtifactStore {
  return current;
}

/** Configures the process's store (the API and worker entry points, and tests). */
export function useArtifactStore(store: ArtifactStore): void {
  current = store;
}

/** `materialize` by kind and id: `await materialize('circuit', hash)` before reading its files. */
export function materialize(kind: ArtifactKind, id: string): Promise<boolean> {
  return current.materialize(artifactDir(kind, id));
}

/** A local path's name relative to the artifact root, refused when it is outside. */
export function artifactName(p: string): string {
  const rel = path.relative(artifactRoot(), path.resolve(p));
  if (!rel || rel.startsWith('..') || path.isAbsolute(rel)) throw new Error(`not under the artifact root: ${p}`);
  return rel.split(path.sep).join('/');
}

/** Every file under `dir`, named relative to it ('/'-separated), sorted. */
export async function filesUnder(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.isDirectory()) out.push(...(await filesUnder(path.join(dir, e.name), `${prefix}${e.name}/`)));
    else if (e.isFile()) out.push(`${prefix}${e.name}`);
  }
  return out.sort();
}

/** Folders inside a circuit's directory that are units of their own (a setup, a ceremony's keys, work in progress). */
const NESTED = /^(setup-|ceremony-|\.)/;

/**
 * Whether a published directory is here, its `marker` file present: fetched from a shared
 * store, or made on this node before the store held it (then stored now, as made here: its
 * key is the one the records name). The local folder: whether the marker exists.
 */
export async function haveDir(dir: string, marker: string): Promise<boolean> {
  if ((await current.materialize(dir)) && (await exists(marker))) return true;
  if (current.kind === 'local' || !(await exists(marker))) return false;
  await current.publishDir(
    dir,
    (await filesUnder(dir)).filter((n) => !NESTED.test(n.split('/')[0])),
  );
  return true;
}

/**
 * Builds a directory in a private temp location and renames it into place, so a
 * reader never sees a half-written artifact. If another process won the race, its
 * (identical, content-addressed) result is kept. The directory is then recorded in the
 * artifact store as one unit (a shared store: other nodes fetch it from there).
 */
export async function publishDir(finalDir: string, build: (tmpDir: string) => Promise<void>): Promise<void> {
  const tmp = artifactDir('tmp', `${path.basename(finalDir)}-${process.pid}-${Date.now()}`);
  await mkdir(tmp, { recursive: true });
  let names: string[];
  try {
    await build(tmp);
    names = await filesUnder(tmp);
    await mkdir(path.dirname(finalDir), { recursive: true });
    try {
      await rename(tmp, finalDir);
    } catch (e) {
      if (!(await exists(finalDir))) throw e;
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  await current.publishDir(finalDir, names);
}
