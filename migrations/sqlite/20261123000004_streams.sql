-- Tweet streams (issue 6).
-- How complete the stored version of an event is (tweets: 1 truncated, 2 fast-x or
-- ScrapeBadger, 3 subscription WebSocket, 4 enriched); a better sighting replaces it.
ALTER TABLE events ADD COLUMN quality INTEGER NOT NULL DEFAULT 0;

-- Every arrival of a stream or tweet event, as received: the same tweet over a
-- WebSocket and its webhook backup is one event with two sightings.
CREATE TABLE event_sightings (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    INTEGER NOT NULL REFERENCES events (id),
    stream      TEXT,                              -- configured stream name; NULL for webhooks
    channel     TEXT    NOT NULL,                  -- scrapest.ws | scrapest.sse | scrapest.sse_public | scrapest.filter | scrapebadger.ws | *.webhook
    received_at TEXT    NOT NULL,
    quality     INTEGER NOT NULL,
    payload     TEXT    NOT NULL                   -- the message exactly as received
);
CREATE INDEX event_sightings_event ON event_sightings (event_id);

-- Each configured stream's state, written by the process that holds it (its
-- lease). Times are Unix milliseconds.
CREATE TABLE streams (
    name            TEXT    PRIMARY KEY,
    kind            TEXT    NOT NULL,
    state           TEXT    NOT NULL,              -- connecting | connected | backing_off | unauthorized | stopped
    connected_since INTEGER,
    last_message_at INTEGER,
    messages        INTEGER NOT NULL DEFAULT 0,
    reconnects      INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    last_error_at   INTEGER,
    owner           TEXT,                          -- the process holding the stream
    lease_until     INTEGER,
    updated_at      INTEGER NOT NULL
);
