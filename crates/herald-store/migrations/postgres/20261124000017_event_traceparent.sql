-- The W3C traceparent a publish carried, sent on with every delivery of the event.
ALTER TABLE events ADD COLUMN traceparent TEXT;
