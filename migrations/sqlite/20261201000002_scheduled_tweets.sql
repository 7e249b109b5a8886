-- The tweets Starling scheduled in Scrapely, one per scrapely.schedule_tweet
-- action: from the answer, or found by GET /scheduled-tweets after a call whose
-- outcome nobody saw. Unique per tweet: one scheduled tweet proves one action.
CREATE TABLE scheduled_tweets (
    action_id     INTEGER NOT NULL PRIMARY KEY REFERENCES actions (id),
    tweet_id      TEXT    NOT NULL UNIQUE,
    account_id    TEXT    NOT NULL,
    scheduled_at  TEXT    NOT NULL,                -- RFC 3339, as Scrapely has it
    status        TEXT    NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'posted', 'failed', 'cancelled')),
    error_message TEXT,                            -- Scrapely's, when it failed to post
    proved_by     TEXT    NOT NULL CHECK (proved_by IN ('answer', 'reconciled')),
    recorded_at   INTEGER    NOT NULL,
    checked_at    INTEGER                             -- last follow-up through GET /scheduled-tweets
);
