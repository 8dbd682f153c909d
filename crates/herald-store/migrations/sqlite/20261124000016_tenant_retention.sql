-- How long a tenant's finished deliveries are kept, in days, where it should not have the
-- instance's retention (NULL: the default).
ALTER TABLE tenants ADD COLUMN retention_days BIGINT;
