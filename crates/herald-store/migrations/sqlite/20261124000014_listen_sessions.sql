-- `herald listen` sessions: the temporary endpoint a listening CLI receives its deliveries
-- through, and when a CLI was last connected to it. Sessions idle longer than the configured
-- time are removed with their endpoint. Times are Unix milliseconds.
CREATE TABLE listen_sessions (
    endpoint_id   TEXT PRIMARY KEY REFERENCES endpoints (id) ON DELETE CASCADE,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    last_seen_at  BIGINT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX listen_sessions_idle ON listen_sessions (last_seen_at);
