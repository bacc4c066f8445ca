-- When a model's compile/setup job was last taken by a worker: compiles are taken
-- round-robin across tenants (the tenant served longest ago first), so one tenant's
-- queue of uploads cannot hold back another tenant's.
ALTER TABLE models ADD COLUMN claimed_at timestamptz;
CREATE INDEX models_by_tenant_claim ON models (tenant, claimed_at);
