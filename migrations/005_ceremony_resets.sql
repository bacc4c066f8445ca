-- Ceremony resets (#20): the model's owner may put an open ceremony back on its initial key
-- (a ceremony that cannot finish: a key that holds a beacon, a contributor gone with the
-- only copy). The contributions it drops leave ceremony_contributions (so the chain can start
-- again from the initial key) and are kept here, with who reset it, when and why.
CREATE TABLE ceremony_resets (
  tenant         text        NOT NULL,
  model_id       text        NOT NULL,
  -- 1 for the ceremony's first reset, and so on.
  n              integer     NOT NULL CHECK (n >= 1),
  -- The current key at the time of the reset, by sha256.
  from_sha256    text        NOT NULL,
  -- The contributions dropped, in chain order, as ceremony_contributions held them.
  contributions  jsonb       NOT NULL,
  -- Who reset it: the API key's role and tenant (never the key); and why, in their words.
  reset_by       text        NOT NULL,
  reason         text        NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  PRIMARY KEY (tenant, model_id, n),
  FOREIGN KEY (tenant, model_id) REFERENCES ceremonies (tenant, model_id)
);
