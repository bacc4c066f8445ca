-- The idempotency table keeps a keyed fingerprint of each request body (#20): an HMAC under a
-- secret of the service, kept in the artifact store (not in the database). The plain sha256
-- kept so far could be opened by guessing the applicant's values: erased here. A retry of a
-- request bound before this migration gets 409 IDEMPOTENCY_CONFLICT (send a new key) rather
-- than a second proof.
UPDATE idempotency_keys SET payload_hash = 'erased' WHERE payload_hash NOT LIKE 'hmac1:%';
