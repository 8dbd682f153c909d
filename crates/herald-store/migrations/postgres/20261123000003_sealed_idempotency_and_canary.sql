-- Stored Idempotency-Key responses are sealed with the master key from now on (they may hold a
-- secret shown only once). Responses stored in clear by earlier versions are dropped: a repeat
-- of such a request within its 24 hours is processed again.
DELETE FROM idempotency_keys;

-- What the instance keeps about itself. `master_key_canary`: a known text sealed with the
-- master key at first start; a start with another master key cannot open it and refuses to run.
CREATE TABLE instance_settings (
    name   TEXT PRIMARY KEY,
    value  BYTEA NOT NULL
);
