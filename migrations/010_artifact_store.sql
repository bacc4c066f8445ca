-- The shared artifact store (src/store/pg-artifacts.ts), used when workers and APIs run on
-- machines with their own disks (DATABASE_URL and REDIS_URL set): every file's bytes once,
-- named by their sha256, in rows of at most 4 MiB; the names under the artifact root that
-- point at them; and the directories published as one unit (the first node to publish wins).
CREATE TABLE artifact_blobs (
  sha256 text PRIMARY KEY,
  size bigint NOT NULL,
  parts integer NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE artifact_parts (
  sha256 text NOT NULL REFERENCES artifact_blobs (sha256) ON DELETE CASCADE,
  part integer NOT NULL,
  data bytea NOT NULL,
  PRIMARY KEY (sha256, part)
);
CREATE TABLE artifact_units (
  path text PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE artifact_files (
  path text PRIMARY KEY,
  grp text NOT NULL,
  sha256 text NOT NULL REFERENCES artifact_blobs (sha256),
  size bigint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX artifact_files_grp ON artifact_files (grp);
