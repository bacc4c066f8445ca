-- The calibration rows an upload gave (the first 1000, as flat input vectors), kept with
-- the tenant's record only until its compile job has run the fidelity report on them
-- (then set to NULL), so the report is on real inputs rather than synthetic ones. Not
-- part of the model id; never served.
ALTER TABLE models ADD COLUMN calibration jsonb;
