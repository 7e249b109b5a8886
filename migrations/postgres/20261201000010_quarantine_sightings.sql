-- Issue 11, item 9: Scrapely retries a refused delivery up to 3 times, so the same
-- body refused again is one more sighting of its quarantine row, not a new row.
-- Rows kept before this migration have no hash (each stays a row of its own).
ALTER TABLE quarantine ADD COLUMN body_sha256  TEXT;                       -- SHA-256 (hex) of the raw body
ALTER TABLE quarantine ADD COLUMN sightings    INTEGER NOT NULL DEFAULT 1; -- deliveries of this body
ALTER TABLE quarantine ADD COLUMN last_seen_at TIMESTAMPTZ;                -- latest delivery
UPDATE quarantine SET last_seen_at = received_at;
CREATE UNIQUE INDEX quarantine_source_channel_body ON quarantine (source, channel, body_sha256);
