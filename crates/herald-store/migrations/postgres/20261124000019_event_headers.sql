-- Headers a publisher asked to send with every delivery of the event (a JSON object; NULL: none).
ALTER TABLE events ADD COLUMN headers TEXT;
