-- A private model's secret blinding value (decimal): its parameters are a private witness
-- of every proof, committed to with this value (null: a public model). Part of the model
-- id, needed by the workers that compile and prove it; never served.
ALTER TABLE models ADD COLUMN blinding text;
