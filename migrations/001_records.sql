-- Records of the service: models (per tenant) and their immutable key versions, proofs,
-- the private part of each proof request (deleted when the proof ends), idempotency keys
-- and worker heartbeats. Artifacts (circuits, keys, bundles) stay content-addressed files.

CREATE TABLE models (
  tenant         text        NOT NULL,
  id             text        NOT NULL CHECK (id ~ '^[0-9a-f]{64}$'),
  status         text        NOT NULL CHECK (status IN ('queued', 'compiling', 'ready', 'failed')),
  reason         text,
  file_name      text        NOT NULL,
  external_files jsonb       NOT NULL DEFAULT '[]',
  settings       jsonb       NOT NULL,
  public_input   boolean     NOT NULL DEFAULT false,
  -- Outbox: null until the job is handed to the queue backend (BullMQ).
  handed_at      timestamptz,
  -- Embedded queue: which dispatcher holds the job, until when, and how often it was taken.
  lease_owner    text,
  lease_until    timestamptz,
  attempts       integer     NOT NULL DEFAULT 0,
  checked_at     timestamptz,
  created_at     timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  updated_at     timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  PRIMARY KEY (tenant, id)
);
CREATE INDEX models_by_id ON models (id);
CREATE INDEX models_open ON models (status, updated_at) WHERE status IN ('queued', 'compiling');

-- A model's key never changes: a new circuit or a new setup is a new version.
CREATE TABLE model_versions (
  tenant                text        NOT NULL,
  model_id              text        NOT NULL,
  version               integer     NOT NULL CHECK (version >= 1),
  status                text        NOT NULL CHECK (status IN ('ready', 'retired')),
  circuit_hash          text        NOT NULL,
  circuit_source_sha256 text        NOT NULL,
  commitment            text        NOT NULL,
  -- What bundleModel() returns, kept as given: the verifier's description of the model.
  descriptor            jsonb       NOT NULL,
  -- inputs, outputSize, decisionSize, head: what the API checks requests against.
  summary               jsonb       NOT NULL,
  vkey                  jsonb       NOT NULL,
  vkey_hash             text        NOT NULL,
  setup                 jsonb       NOT NULL,
  constraints           integer     NOT NULL,
  layers                jsonb       NOT NULL,
  fidelity              jsonb,
  created_at            timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  PRIMARY KEY (tenant, model_id, version),
  FOREIGN KEY (tenant, model_id) REFERENCES models (tenant, id)
);
CREATE INDEX model_versions_by_key ON model_versions (model_id, vkey_hash);
CREATE INDEX model_versions_by_commitment ON model_versions (model_id, commitment);

CREATE TABLE proofs (
  id            uuid        PRIMARY KEY,
  tenant        text        NOT NULL,
  model_id      text        NOT NULL,
  -- The key version the proof was made with (set when done).
  model_version integer,
  status        text        NOT NULL CHECK (status IN ('queued', 'proving', 'done', 'failed')),
  stage         text        NOT NULL,
  reason        text,
  worker        text,
  timings       jsonb,
  handed_at     timestamptz,
  lease_owner   text,
  lease_until   timestamptz,
  attempts      integer     NOT NULL DEFAULT 0,
  checked_at    timestamptz,
  created_at    timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  updated_at    timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  FOREIGN KEY (tenant, model_id) REFERENCES models (tenant, id)
);
-- Lists page through these newest first; the id breaks ties between equal timestamps.
CREATE INDEX proofs_by_tenant ON proofs (tenant, created_at DESC, id DESC);
CREATE INDEX proofs_by_tenant_model ON proofs (tenant, model_id, created_at DESC, id DESC);
CREATE INDEX proofs_by_model ON proofs (model_id, created_at DESC, id DESC);
CREATE INDEX proofs_by_time ON proofs (created_at DESC, id DESC);
CREATE INDEX proofs_open ON proofs (status, created_at) WHERE status IN ('queued', 'proving');

-- The private part of a request (input, salt, nonce): written with the proof record,
-- deleted when the proof ends done or failed.
CREATE TABLE proof_requests (
  proof_id uuid  PRIMARY KEY REFERENCES proofs (id) ON DELETE CASCADE,
  body     jsonb NOT NULL
);

CREATE TABLE idempotency_keys (
  tenant       text        NOT NULL,
  key          text        NOT NULL,
  payload_hash text        NOT NULL,
  proof_id     uuid        NOT NULL REFERENCES proofs (id),
  created_at   timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  PRIMARY KEY (tenant, key)
);
CREATE INDEX idempotency_keys_by_time ON idempotency_keys (created_at);

CREATE TABLE worker_heartbeats (
  worker  text        PRIMARY KEY,
  kind    text        NOT NULL,
  seen_at timestamptz NOT NULL
);
