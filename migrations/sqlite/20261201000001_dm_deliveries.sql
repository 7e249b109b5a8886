-- Which delivered message proves which DM: written when /dm/send answers
-- success, or when reconciliation finds the message after an attempt nobody saw
-- answered. Unique per (conversation, message): one message proves one action.
CREATE TABLE dm_deliveries (
    action_id       INTEGER NOT NULL PRIMARY KEY REFERENCES actions (id),
    conversation_id TEXT    NOT NULL,
    message_key     TEXT    NOT NULL,          -- id:<message id> | t:<time>:<text hash> | answer:<action id>
    text_hash       TEXT    NOT NULL,          -- sha-256 of the text, first 12 bytes, hex
    proved_by       TEXT    NOT NULL CHECK (proved_by IN ('answer', 'reconciled')),
    sent_after      INTEGER    NOT NULL,          -- the message was sent in this window (ms)
    sent_before     INTEGER    NOT NULL,
    message_time    INTEGER,                      -- its time in the conversation, when found there
    recorded_at     INTEGER    NOT NULL,
    UNIQUE (conversation_id, message_key)
);
