-- What an upload fixed besides the settings, so a worker compiles with exactly it: the
-- per-feature input quantization (from declared ranges or calibration rows; the rows
-- themselves are not kept) and the decision labels. Both are part of the model id.
ALTER TABLE models ADD COLUMN input_quant jsonb;
ALTER TABLE models ADD COLUMN labels jsonb;
