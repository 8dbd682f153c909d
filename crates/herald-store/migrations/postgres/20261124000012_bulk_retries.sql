-- Bulk retries: every delivery of a tenant matching a filter queued again, in pages, by a
-- background task. The row is the operation's status resource, and how it resumes after a
-- restart: `cursor` is the last delivery id handled (the log is walked newest first, from the
-- first id after the operation began), advanced in the same transaction as the page's requeues.
-- Times are Unix milliseconds; `filter` is JSON.
CREATE TABLE bulk_retries (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    filter       TEXT NOT NULL,
    cursor       TEXT NOT NULL,
    retried      BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    finished_at  BIGINT
);
CREATE INDEX bulk_retries_running ON bulk_retries (created_at) WHERE finished_at IS NULL;
