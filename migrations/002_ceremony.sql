-- Phase-2 ceremonies over REST (#13). A model registered with setup "ceremony" waits in
-- status 'ceremony' after compile: the worker wrote the initial key (no contribution) and
-- a ceremony row; contributors upload keys that extend the current one by exactly one
-- verified contribution; the owner closes it with a public beacon, which makes the version.
-- The keys are content-addressed files (artifacts/circuits/<circuit>/ceremony-<ptau>/<sha256>.zkey).

ALTER TABLE models ADD COLUMN setup text NOT NULL DEFAULT 'service' CHECK (setup IN ('service', 'ceremony'));
ALTER TABLE models DROP CONSTRAINT models_status_check;
ALTER TABLE models ADD CONSTRAINT models_status_check CHECK (status IN ('queued', 'compiling', 'ceremony', 'ready', 'failed'));

CREATE TABLE ceremonies (
  tenant         text        NOT NULL,
  model_id       text        NOT NULL,
  state          text        NOT NULL CHECK (state IN ('open', 'finalized')),
  circuit_hash   text        NOT NULL,
  r1cs_sha256    text        NOT NULL,
  -- snarkjs csHash of the initial key: every key of this circuit and ptau shares it.
  cs_hash        text        NOT NULL,
  -- kind, name, power, sha256 of the powers of tau the initial key was made on.
  ptau           jsonb       NOT NULL,
  -- The initial key (no contribution) and the current one, by sha256: the compare-and-set
  -- an upload makes is on current_sha256, in the transaction that records it.
  base_sha256    text        NOT NULL,
  current_sha256 text        NOT NULL,
  contributions  integer     NOT NULL DEFAULT 0,
  -- What the version will hold besides its key (descriptor, summary, layers, ...), from the compile.
  pending        jsonb       NOT NULL,
  -- Set by finalize: the beacon and the version it made.
  beacon         jsonb,
  version        integer,
  created_at     timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  updated_at     timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  PRIMARY KEY (tenant, model_id),
  FOREIGN KEY (tenant, model_id) REFERENCES models (tenant, id)
);

-- One row per accepted contribution, in chain order (idx 1 is the first contribution).
CREATE TABLE ceremony_contributions (
  tenant       text        NOT NULL,
  model_id     text        NOT NULL,
  idx          integer     NOT NULL CHECK (idx >= 1),
  name         text        NOT NULL,
  -- blake2b-512 contribution hash, as snarkjs computes it: what the contributor publishes.
  hash         text        NOT NULL,
  base_sha256  text        NOT NULL,
  zkey_sha256  text        NOT NULL,
  -- Who uploaded it: the API key's role and tenant (never the key).
  uploaded_by  text        NOT NULL,
  check_ms     integer     NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  PRIMARY KEY (tenant, model_id, idx),
  UNIQUE (tenant, model_id, base_sha256),
  FOREIGN KEY (tenant, model_id) REFERENCES ceremonies (tenant, model_id)
);
