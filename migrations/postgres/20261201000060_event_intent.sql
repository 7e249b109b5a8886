-- The reply-intent classifier's answer (README "Reply intent") for each Scrapely
-- reply, computed once when the reply is stored, so audit can GROUP BY it.
-- NULL for other kinds. Replies stored before this migration are filled in by
-- Starling when it starts (store::events::backfill_intent).
ALTER TABLE events ADD COLUMN intent TEXT
    CHECK (intent IN ('interested', 'question', 'not_now', 'not_interested',
                      'unsubscribe', 'referral', 'out_of_office', 'other'));
ALTER TABLE events ADD COLUMN intent_confidence REAL;
-- JSON array of the cues and words that decided it.
ALTER TABLE events ADD COLUMN intent_evidence TEXT;
CREATE INDEX events_by_intent ON events (intent) WHERE intent IS NOT NULL;

-- audit_log, with the intent of the reply behind each action.
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
    st.error_message                                            AS tweet_error,
    e.intent                                                    AS event_intent
FROM actions a
JOIN events e ON e.id = a.event_id
LEFT JOIN action_attempts t ON t.action_id = a.id
LEFT JOIN scheduled_tweets st ON st.action_id = a.id;
