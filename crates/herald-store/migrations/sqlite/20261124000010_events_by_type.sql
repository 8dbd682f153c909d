-- The event and delivery logs filtered by event type: this index finds a tenant's events of one
-- type newest first, and tells a rare type (whose few events drive the delivery lookup) from a
-- common one (whose deliveries a scan of the log meets soon enough).
CREATE INDEX events_by_type ON events (tenant_id, event_type, event_key);
