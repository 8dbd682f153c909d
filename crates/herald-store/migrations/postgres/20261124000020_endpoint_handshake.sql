-- The last CloudEvents validation handshake with the endpoint (JSON; NULL: none yet).
ALTER TABLE endpoints ADD COLUMN handshake TEXT;
