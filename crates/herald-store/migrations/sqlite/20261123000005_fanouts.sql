-- An event owed to many endpoints is acknowledged as soon as it is stored with a fan-out marker;
-- its deliveries are created in the next transaction, which also removes the marker. The marker
-- is leased to the process that published the event; if that process dies first, the lease runs
-- out and any process creates the deliveries (their ids are derived from the event and the
-- endpoint, so creating them twice is impossible). No event that was acknowledged loses its
-- deliveries to a crash.
CREATE TABLE fanouts (
    event_key    TEXT PRIMARY KEY REFERENCES events (event_key) ON DELETE CASCADE,
    lease_owner  TEXT,
    leased_until INTEGER NOT NULL
);
CREATE INDEX fanouts_due ON fanouts (leased_until);
