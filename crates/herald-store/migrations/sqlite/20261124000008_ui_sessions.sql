-- Web interface sessions. The browser's cookie holds a random token; only its SHA-256 is kept.
-- tenant_id NULL: an operator session. api_key_id: the key it was opened with (deleting the key
-- ends the session); NULL for a session opened from a tenant portal link. Times are Unix
-- milliseconds.
CREATE TABLE ui_sessions (
    token_hash  TEXT PRIMARY KEY,
    tenant_id   TEXT REFERENCES tenants (id) ON DELETE CASCADE,
    api_key_id  TEXT REFERENCES api_keys (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX ui_sessions_by_expiry ON ui_sessions (expires_at);
