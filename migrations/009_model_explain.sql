-- Proven reasons and fairness fixed at upload (the descriptor's `explain`: reasons, the
-- features they rank, the baseline in raw units, the protected features and their test
-- values), resolved once (a default baseline is the calibration rows' mean) so every
-- compile of the record gives the same circuit. Part of the model id; null: none.
ALTER TABLE models ADD COLUMN explain jsonb;
