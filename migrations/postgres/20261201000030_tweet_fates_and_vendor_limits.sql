-- Scheduled tweets followed up: when Scrapely posted one (its `posted_at`), and
-- an index for the follower's "pending tweets of an account".
ALTER TABLE scheduled_tweets ADD COLUMN posted_at TEXT;     -- RFC 3339, as Scrapely has it
CREATE INDEX scheduled_tweets_pending ON scheduled_tweets (status, account_id);

-- What the vendor's X-RateLimit-* headers said, per budget bucket, shared by every
-- process on this database. A table of its own: recording an answer never waits
-- for the lock that taking a slot in rate_limits holds.
CREATE TABLE rate_limit_vendor (
    bucket       TEXT    PRIMARY KEY,
    vendor_limit BIGINT,                           -- X-RateLimit-Limit: the budget once known
    remaining    BIGINT,                           -- X-RateLimit-Remaining of the latest answer
    remaining_at BIGINT,                           -- when that answer was recorded (ms)
    reset_at     BIGINT,                           -- X-RateLimit-Reset of that answer (ms)
    heard_at     BIGINT                            -- the first answer of any kind (ms)
);

-- audit_log, with the fate of each scheduled tweet (tweet_status, tweet_error).
DROP VIEW audit_log;
CREATE VIEW audit_log AS
SELECT
    a.id                                                        AS action_id,
    to_timestamp(COALESCE(t.started_at, a.created_at) / 1000.0) AS at,
    a.kind                                                      AS action,
    a.status                                                    AS action_status,
    COALESCE(a.params::jsonb ->> 'conversation_id', a.params::jsonb ->> 'url', a.account) AS target,
    a.rule                                                      AS rule,
    e.kind                                                      AS event_kind,
    e.dedupe_key                                                AS event,
    t.attempt                                                   AS attempt,
    t.outcome                                                   AS outcome,
    t.method || ' ' || t.url                                    AS request,
    t.status_code                                               AS status_code,
    t.latency_ms                                                AS latency_ms,
    t.error_class                                               AS error_class,
    COALESCE(t.error, a.last_error)                             AS error,
    t.request_id                                                AS request_id,
    st.status                                                   AS tweet_status,
    st.error_message                                            AS tweet_error
FROM actions a
JOIN events e ON e.id = a.event_id
LEFT JOIN action_attempts t ON t.action_id = a.id
LEFT JOIN scheduled_tweets st ON st.action_id = a.id;
