-- Claims and "when is the next one due" may leave aside the tenants whose work a dispatcher
-- already has enough of in hand: the due index carries the tenant, so those rows are skipped
-- in the index without reading the table.
CREATE INDEX deliveries_due_with_tenant ON deliveries (next_attempt_at, tenant_id)
    WHERE status IN ('pending', 'retrying');
DROP INDEX deliveries_due;
