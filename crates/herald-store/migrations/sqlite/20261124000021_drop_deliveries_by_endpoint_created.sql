-- An endpoint's deliveries in a time window (its stats, `recover`) are read through
-- deliveries_by_endpoint (endpoint_id, id): a delivery's id carries the time it was created at
-- (a subscriber's delivery is created with its event, even when a fan-out writes it later), so
-- a window is a range of ids. This index of every delivery by endpoint and time was one more
-- B-tree to write per delivery, on pages scattered over every endpoint a fan-out reaches.
-- Deliveries a fan-out finished late before this version keep their later created_at; a
-- window is bounded by their id, that is by their event's time.
DROP INDEX deliveries_by_endpoint_created;
