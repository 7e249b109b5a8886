-- Every rule that fired (or failed) on an event, written in the transaction that
-- stored the event. `actions` holds the rendered actions (JSON array).
CREATE TABLE rule_matches (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     INTEGER NOT NULL REFERENCES events (id),
    rule         TEXT    NOT NULL,
    rule_hash    TEXT    NOT NULL,                 -- SHA-256 of the rule's text when it fired
    matched_at   TEXT    NOT NULL,
    outcome      TEXT    NOT NULL,                 -- fired | cooldown | error
    cooldown_key TEXT,
    error        TEXT,
    actions      TEXT    NOT NULL DEFAULT '[]',
    UNIQUE (event_id, rule)
);
CREATE INDEX rule_matches_rule_matched_at ON rule_matches (rule, matched_at);

-- Cooldown claims: a rule fires at most once per key until `until`.
CREATE TABLE rule_cooldowns (
    rule     TEXT    NOT NULL,
    key      TEXT    NOT NULL,
    until    TEXT    NOT NULL,
    event_id INTEGER NOT NULL,
    PRIMARY KEY (rule, key)
);
