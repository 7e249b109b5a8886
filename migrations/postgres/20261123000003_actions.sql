-- Actions: one row per (event, rule, action index), created in the transaction that
-- stores the event and its match (the outbox). The unique key is what makes a
-- replayed or re-evaluated event unable to create a second action.
-- Times are Unix milliseconds (UTC); the audit views show them as timestamps.
CREATE TABLE actions (
    id           BIGSERIAL PRIMARY KEY,
    event_id     BIGINT  NOT NULL REFERENCES events (id),
    rule         TEXT    NOT NULL,
    action_index INTEGER NOT NULL,
    kind         TEXT    NOT NULL,                 -- e.g. scrapely.send_dm
    params       TEXT    NOT NULL,                 -- rendered parameters (JSON object)
    account      TEXT,                             -- Scrapely account (handle or id) acted for
    status       TEXT    NOT NULL,                 -- pending | running | failed | succeeded | dead | held | outcome_unknown | skipped | cancelled | dry_run
    attempts     INTEGER NOT NULL DEFAULT 0,       -- attempts in the current series
    max_attempts INTEGER,                          -- NULL: actions.retry.max_attempts
    series       INTEGER NOT NULL DEFAULT 1,       -- 1 + times re-run by `starling jobs retry`
    run_at       BIGINT  NOT NULL,                 -- not before (ms)
    lease_until  BIGINT,                           -- while running: when a crashed run may be taken over
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL,
    last_error   TEXT,
    UNIQUE (event_id, rule, action_index)
);
CREATE INDEX actions_status ON actions (status, run_at);
CREATE INDEX actions_rule ON actions (rule, id);

-- Every attempt, written before the outbound call and completed after it. An
-- attempt with no outcome is a call whose result nobody saw (a crash mid-call).
CREATE TABLE action_attempts (
    id               BIGSERIAL PRIMARY KEY,
    action_id        BIGINT  NOT NULL REFERENCES actions (id),
    series           INTEGER NOT NULL,
    attempt          INTEGER NOT NULL,
    worker           TEXT    NOT NULL,
    started_at       BIGINT  NOT NULL,
    finished_at      BIGINT,
    outcome          TEXT,                         -- succeeded | retry | dead | reconciled | outcome_unknown | skipped | dry_run
    method           TEXT,
    url              TEXT,                         -- secrets redacted
    request_body     TEXT,                         -- secrets redacted
    status_code      INTEGER,
    response_excerpt TEXT,
    request_id       TEXT,                         -- the vendor's X-Request-ID
    latency_ms       DOUBLE PRECISION,
    error_class      TEXT,                         -- rate_limited | server_error | timeout | connection | client_error | validation | …
    error            TEXT,
    retry_in_ms      BIGINT                        -- when retried: the delay chosen
);
CREATE INDEX action_attempts_action ON action_attempts (action_id, id);

-- Outbound budget per vendor key, shared by every process on this database.
CREATE TABLE rate_limits (
    bucket        TEXT   PRIMARY KEY,
    blocked_until BIGINT NOT NULL DEFAULT 0        -- the vendor said the window is spent until then
);
CREATE TABLE rate_limit_calls (
    bucket TEXT   NOT NULL,
    at     BIGINT NOT NULL
);
CREATE INDEX rate_limit_calls_bucket_at ON rate_limit_calls (bucket, at);

-- Scrapely accounts paused by an `account_paused` event; their DMs and tweets wait.
CREATE TABLE paused_accounts (
    account    TEXT   PRIMARY KEY,                 -- lowercased handle
    account_id TEXT,
    paused_at  BIGINT NOT NULL,
    reason     TEXT,
    event_id   BIGINT
);

-- What Starling did, to whom, and why: one row per attempt (or per action not yet tried).
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
    t.request_id                                                AS request_id
FROM actions a
JOIN events e ON e.id = a.event_id
LEFT JOIN action_attempts t ON t.action_id = a.id;
