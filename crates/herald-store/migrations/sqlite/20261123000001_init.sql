-- Herald schema, SQLite dialect. Times are Unix milliseconds (INTEGER); JSON is TEXT.
-- Keep in step with migrations/postgres/: same tables, columns and indexes.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    uid         TEXT UNIQUE,
    name        TEXT NOT NULL,
    metadata    TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- tenant_id NULL: an admin key for the whole instance.
CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT REFERENCES tenants (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    prefix      TEXT NOT NULL,
    key_hash    TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);
CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id, id);

CREATE TABLE event_types (
    name         TEXT PRIMARY KEY,
    label        TEXT NOT NULL,
    description  TEXT NOT NULL,
    schema       TEXT,
    example      TEXT,
    deprecated   BOOLEAN NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

-- spec: the shown configuration as JSON; sealed_credentials: secret, auth, headers and TLS key,
-- encrypted with the master key (never stored in clear).
CREATE TABLE endpoints (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    spec                TEXT NOT NULL,
    enabled             BOOLEAN NOT NULL,
    disabled_reason     TEXT,
    sealed_credentials  BLOB NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);
CREATE INDEX endpoints_by_tenant ON endpoints (tenant_id, id);

-- event_key: Herald's time-sortable internal id (evt_…); id: the public id, caller-chosen or = event_key.
CREATE TABLE events (
    event_key   TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    data        TEXT NOT NULL,
    subject     TEXT,
    source      TEXT,
    created_at  INTEGER NOT NULL,
    UNIQUE (tenant_id, id)
);
CREATE INDEX events_by_tenant ON events (tenant_id, event_key);

-- One event to one endpoint: the unit of retry and the queue itself. No foreign key to
-- endpoints: the delivery log outlives a deleted endpoint.
CREATE TABLE deliveries (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    event_key        TEXT NOT NULL REFERENCES events (event_key) ON DELETE CASCADE,
    event_id         TEXT NOT NULL,
    endpoint_id      TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'retrying', 'delivered', 'failed')),
    attempt_count    INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER,
    leased_until     INTEGER,
    lease_owner      TEXT,
    last_attempt_at  INTEGER,
    failure_reason   TEXT,
    next_trigger     TEXT NOT NULL DEFAULT 'scheduled',
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
-- The claim query reads only due, unfinished deliveries: this partial index keeps it flat as
-- delivered history grows.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status IN ('pending', 'retrying');
CREATE INDEX deliveries_by_tenant ON deliveries (tenant_id, id);
CREATE INDEX deliveries_by_endpoint ON deliveries (endpoint_id, id);
CREATE INDEX deliveries_by_event ON deliveries (event_key);
CREATE INDEX deliveries_by_event_id ON deliveries (tenant_id, event_id);

CREATE TABLE attempts (
    id                TEXT PRIMARY KEY,
    delivery_id       TEXT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    tenant_id         TEXT NOT NULL,
    endpoint_id       TEXT NOT NULL,
    attempt_no        INTEGER NOT NULL,
    trigger_kind      TEXT NOT NULL,
    started_at        INTEGER NOT NULL,
    duration_ms       INTEGER NOT NULL,
    request           TEXT NOT NULL,
    response_status   INTEGER,
    response_headers  TEXT,
    response_body     TEXT,
    error_kind        TEXT,
    error_message     TEXT
);
CREATE INDEX attempts_by_delivery ON attempts (delivery_id, id);
CREATE INDEX attempts_by_endpoint ON attempts (endpoint_id, started_at);
CREATE INDEX deliveries_by_endpoint_created ON deliveries (endpoint_id, created_at);

-- Idempotency-Key: the first response to a (caller, key) is stored and replayed for 24 hours.
-- status NULL: the first request is still being processed.
CREATE TABLE idempotency_keys (
    scope         TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    status        INTEGER,
    content_type  TEXT,
    body          BLOB,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);
