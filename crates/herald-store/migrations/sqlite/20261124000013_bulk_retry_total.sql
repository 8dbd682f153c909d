-- How many deliveries a bulk retry's filter matched when it began: what its progress is out of.
-- Null for operations stored before it was counted.
ALTER TABLE bulk_retries ADD COLUMN total BIGINT;
