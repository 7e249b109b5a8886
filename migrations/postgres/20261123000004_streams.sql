-- Tweet streams (issue 6).
-- How complete the stored version of an event is (tweets: 1 truncated, 2 fast-x or
-- ScrapeBadger, 3 subscription WebSocket, 4 enriched); a better sighting replaces it.
ALTER TABLE events ADD COLUMN quality SMALLINT NOT NULL DEFAULT 0;

-- Every arrival of a stream or tweet event, as received: the same tweet over a
-- WebSocket and its webhook backup is one event with two sightings.
CREATE TABLE event_sightings (
    id          BIGSERIAL   PRIMARY KEY,
    event_id    BIGINT      NOT NULL REFERENCES events (id),
    stream      TEXT,                              -- configured stream name; NULL for webhooks
    channel     TEXT        NOT NULL,              -- scrapest.ws | scrapest.sse | scrapest.sse_public | scrapest.filter | scrapebadger.ws | *.webhook
    received_at TIMESTAMPTZ NOT NULL,
    quality     SMALLINT    NOT NULL,
    payload     TEXT        NOT NULL               -- the message exactly as received
);
CREATE INDEX event_sightings_event ON event_sightings (event_id);

-- Each configured stream's state, written by the process that holds it (its
-- lease). Times are Unix milliseconds.
CREATE TABLE streams (
    name            TEXT    PRIMARY KEY,
    kind            TEXT    NOT NULL,
    state           TEXT    NOT NULL,              -- connecting | connected | backing_off | unauthorized | stopped
    connected_since BIGINT,
    last_message_at BIGINT,
    messages        BIGINT  NOT NULL DEFAULT 0,
    reconnects      BIGINT  NOT NULL DEFAULT 0,
    last_error      TEXT,
    last_error_at   BIGINT,
    owner           TEXT,
    lease_until     BIGINT,
    updated_at      BIGINT  NOT NULL
);
