-- A tenant's own limits, where it should not have the instance's defaults (NULL: the default).
ALTER TABLE tenants ADD COLUMN max_in_flight BIGINT;
ALTER TABLE tenants ADD COLUMN publish_per_second BIGINT;
