-- Endpoint health (issue 6): the circuit breaker's stored state and the failure clock that
-- disables an endpoint. Times are Unix milliseconds. circuit_probe_at NULL: the circuit is closed.
ALTER TABLE endpoints ADD COLUMN failing_since BIGINT;
ALTER TABLE endpoints ADD COLUMN circuit_probe_at BIGINT;
ALTER TABLE endpoints ADD COLUMN circuit_failed_probes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE endpoints ADD COLUMN circuit_changed_at BIGINT;

-- Holding, releasing and probing an endpoint's waiting deliveries reads only those.
CREATE INDEX deliveries_waiting_by_endpoint ON deliveries (endpoint_id, next_attempt_at)
    WHERE status IN ('pending', 'retrying');
