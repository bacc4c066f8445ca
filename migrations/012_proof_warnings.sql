-- Prover-side notes on a finished proof, not proven and not in the bundle (an input
-- feature so close to a tree split that rounding it to its grid may decide it otherwise
-- than float). A JSON array of strings; null: none.
ALTER TABLE proofs ADD COLUMN warnings jsonb;
