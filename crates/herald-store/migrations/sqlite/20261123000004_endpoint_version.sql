-- Every change of an endpoint's configuration (an update, a rotation, a disable by Herald) adds
-- one to its version, and an update applies only to the version it was computed from: a write
-- can never silently undo another. The API shows it as the endpoint's ETag.
ALTER TABLE endpoints ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
