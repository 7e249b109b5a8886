-- Every event from every source: one row per distinct vendor event.
-- A repeated delivery (webhook retry, same tweet on another channel) updates
-- `sightings`, `channels` and `last_seen_at` instead of adding a row.
CREATE TABLE events (
    id           BIGSERIAL   PRIMARY KEY,
    source       TEXT        NOT NULL,             -- scrapely | scrapest | scrapebadger
    kind         TEXT        NOT NULL,             -- e.g. scrapely.new_reply
    dedupe_key   TEXT        NOT NULL UNIQUE,
    vendor_ts    TIMESTAMPTZ,                      -- the vendor's timestamp
    received_at  TIMESTAMPTZ NOT NULL,             -- first sighting
    last_seen_at TIMESTAMPTZ NOT NULL,             -- latest sighting
    sightings    INTEGER     NOT NULL DEFAULT 1,
    channels     JSONB       NOT NULL DEFAULT '[]',-- JSON array of channels
    payload      JSONB       NOT NULL              -- as received
);
-- Time-ordered scans use `id` (insertion order); per-kind scans use this index.
CREATE INDEX events_kind_received_at ON events (kind, received_at);

-- Authentic (authenticated) but malformed payloads, kept for inspection.
CREATE TABLE quarantine (
    id           BIGSERIAL   PRIMARY KEY,
    source       TEXT        NOT NULL,
    channel      TEXT        NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL,
    reason       TEXT        NOT NULL,
    content_type TEXT,
    body         BYTEA       NOT NULL              -- raw bytes; convert_from(body, 'UTF8') to read
);
CREATE INDEX quarantine_received_at ON quarantine (received_at);
