-- The stages a model's compile and setup has passed (import, quantize, circom, fidelity,
-- ptau, phase2, contribution, beacon, export-key, contracts), each with its time and detail,
-- as a JSON array: reset when a compile starts, appended to by the worker, shown on
-- GET /v1/models/{id} (the last entry is the current stage while compiling).
ALTER TABLE models ADD COLUMN progress jsonb;
