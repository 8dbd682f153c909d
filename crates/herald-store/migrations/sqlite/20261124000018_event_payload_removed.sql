-- When the retention removed the event's payload (`data` is then '{}'), keeping its other fields.
ALTER TABLE events ADD COLUMN payload_removed_at BIGINT;
