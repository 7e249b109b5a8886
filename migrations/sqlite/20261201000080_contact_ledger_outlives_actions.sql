-- Retention (README "Retention and backup") deletes old events with their done
-- actions, but never the contact ledger: whom Starling DM'd, and when, must
-- outlive the action that did it (the contact window and `starling contacts
-- show` read it). So `contact_claims` and `contact_ledger` keep their
-- `action_id` without a foreign key to `actions` (readers LEFT JOIN it; an
-- action pruned shows no status). SQLite cannot drop a constraint: both tables
-- are rebuilt with the same columns, rows and indexes (no table refers to them).
CREATE TABLE contact_claims_new (
    receiver   TEXT    PRIMARY KEY,
    action_id  INTEGER NOT NULL,                   -- the DM (its row may be pruned)
    rule       TEXT    NOT NULL,
    claimed_at INTEGER NOT NULL
);
INSERT INTO contact_claims_new (receiver, action_id, rule, claimed_at)
    SELECT receiver, action_id, rule, claimed_at FROM contact_claims;
DROP TABLE contact_claims;
ALTER TABLE contact_claims_new RENAME TO contact_claims;
CREATE INDEX contact_claims_action ON contact_claims (action_id);

CREATE TABLE contact_ledger_new (
    receiver    TEXT    NOT NULL,
    action_id   INTEGER NOT NULL,                  -- the DM (its row may be pruned)
    rule        TEXT    NOT NULL,
    claimed_at  INTEGER NOT NULL,
    released_at INTEGER,
    PRIMARY KEY (receiver, action_id)
);
INSERT INTO contact_ledger_new (receiver, action_id, rule, claimed_at, released_at)
    SELECT receiver, action_id, rule, claimed_at, released_at FROM contact_ledger;
DROP TABLE contact_ledger;
ALTER TABLE contact_ledger_new RENAME TO contact_ledger;
CREATE INDEX contact_ledger_action ON contact_ledger (action_id);
