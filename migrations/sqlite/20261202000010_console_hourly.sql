-- The console's hourly rollup (src/store/hourly.rs). An hour that has ended never
-- changes, so its counts are read from the events and attempts once and kept here:
-- the overview's charts then read a few rows per hour instead of a month of events.
-- Retention (`starling prune`) does not touch these tables: a pruned event stays
-- counted in the hour it arrived.

-- One row per rolled hour, written in the transaction that writes its counts: the
-- primary key is what makes two replicas rolling at once count an hour once.
CREATE TABLE console_hours (
    hour      INTEGER PRIMARY KEY,                 -- the hour's start, Unix seconds (UTC)
    rolled_at INTEGER NOT NULL                     -- when it was rolled (ms)
);

-- The rolled counts: events by kind, attempts by outcome, vendor call latency
-- histogram buckets (key = upper bound in ms, or +Inf), replies by intent.
CREATE TABLE console_hourly (
    hour   INTEGER NOT NULL,
    series TEXT    NOT NULL,                       -- events | outcomes | latency | intents
    key    TEXT    NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (hour, series, key)
);

-- Reading one hour of events, and of finished attempts, by time.
CREATE INDEX IF NOT EXISTS events_received_at ON events (received_at);
CREATE INDEX IF NOT EXISTS action_attempts_finished_at ON action_attempts (finished_at);
