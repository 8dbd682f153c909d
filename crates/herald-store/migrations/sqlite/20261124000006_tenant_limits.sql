-- A tenant's own limits, where it should not have the instance's defaults (NULL: the default).
ALTER TABLE tenants ADD COLUMN max_in_flight INTEGER;
ALTER TABLE tenants ADD COLUMN publish_per_second INTEGER;
