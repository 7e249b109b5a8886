-- Every event from every source: one row per distinct vendor event.
-- A repeated delivery (webhook retry, same tweet on another channel) updates
-- `sightings`, `channels` and `last_seen_at` instead of adding a row.
CREATE TABLE events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    source       TEXT    NOT NULL,                 -- scrapely | scrapest | scrapebadger
    kind         TEXT    NOT NULL,                 -- e.g. scrapely.new_reply
    dedupe_key   TEXT    NOT NULL UNIQUE,
    vendor_ts    TEXT,                             -- the vendor's timestamp, RFC 3339 UTC
    received_at  TEXT    NOT NULL,                 -- first sighting, RFC 3339 UTC
    last_seen_at TEXT    NOT NULL,                 -- latest sighting
    sightings    INTEGER NOT NULL DEFAULT 1,
    channels     TEXT    NOT NULL DEFAULT '[]',    -- JSON array
    payload      TEXT    NOT NULL                  -- JSON as received (always valid: parsed before storing)
);
-- Time-ordered scans use `id` (insertion order); per-kind scans use this index.
CREATE INDEX events_kind_received_at ON events (kind, received_at);

-- Authentic (authenticated) but malformed payloads, kept for inspection.
CREATE TABLE quarantine (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    source       TEXT    NOT NULL,
    channel      TEXT    NOT NULL,
    received_at  TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    content_type TEXT,
    body         BLOB    NOT NULL                  -- raw bytes; CAST(body AS TEXT) to read
);
CREATE INDEX quarantine_received_at ON quarantine (received_at);
