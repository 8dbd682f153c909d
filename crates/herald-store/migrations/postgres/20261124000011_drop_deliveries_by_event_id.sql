-- One event's deliveries are found through the event (events' unique (tenant_id, id), then
-- deliveries_by_event): this index of every delivery by event id is one B-tree less to write
-- per delivery on the hot path.
DROP INDEX deliveries_by_event_id;
