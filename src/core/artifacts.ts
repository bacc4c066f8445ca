import { stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * The one module that knows where things live under `artifacts/`. Everything is
 * content-addressed: a directory's name is the hash of what produced it, so the same
 * input always maps to the same place and a cache hit is a directory that exists.
 */
export type ArtifactKind = 'circuit' | 'contract' | 'db' | 'proof' | 'ptau' | 'tmp' | 'upload';

const FOLDERS = { circuit: 'circuits', contract: 'contracts', db: 'db', proof: 'proofs', ptau: 'ptau', tmp: 'tmp', upload: 'uploads' } satisfies Record<
  ArtifactKind,
  string
>;

/** Root of the artifact store: `ZKINFER_ARTIFACTS`, else `./artifacts`. */
export function artifactRoot(): string {
  return path.resolve(process.env.ZKINFER_ARTIFACTS ?? 'artifacts');
}

/** The folder holding every artifact of one kind. */
export function artifactKindDir(kind: ArtifactKind): string {
  return path.join(artifactRoot(), FOLDERS[kind]);
}

export function artifactDir(kind: ArtifactKind, id: string): string {
  return path.join(artifactKindDir(kind), id);
}

export async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}
