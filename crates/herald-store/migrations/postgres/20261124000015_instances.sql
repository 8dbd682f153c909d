-- The Herald processes that claim deliveries, and when each last said it was alive. The leases of
-- an instance silent for longer than `delivery.instance_timeout` are given back by the others,
-- so its work is taken again within seconds instead of when each lease would run out.
-- `owner` is the instance's lease-token prefix. Times are Unix milliseconds.
CREATE TABLE instances (
    owner         TEXT PRIMARY KEY,
    started_at    BIGINT NOT NULL,
    heartbeat_at  BIGINT NOT NULL
);
