-- The contact ledger: whom Starling has DM'd, and who must never be DM'd again.
-- A person is named by receiver keys: `id:<X user id>` when Starling knows the id,
-- `@<handle>` (lower-cased, no '@' typed by the user), and `conversation:<id>` only
-- for a DM that knows neither. Times are Unix milliseconds (UTC).

-- The claim on each receiver's contact window (`outreach.contact_window`): one row
-- per key, taken by a DM in the transaction that writes its attempt before the
-- call, and overwritten only once it is older than the window. A DM that ends
-- without being sent (dead, skipped) gives its claims back.
CREATE TABLE contact_claims (
    receiver   TEXT    PRIMARY KEY,
    action_id  INTEGER NOT NULL REFERENCES actions (id),
    rule       TEXT    NOT NULL,
    claimed_at INTEGER NOT NULL
);
CREATE INDEX contact_claims_action ON contact_claims (action_id);

-- Every claim ever taken, for `starling contacts show`: released when the DM was
-- not sent after all (it did not count as contacting the person).
CREATE TABLE contact_ledger (
    receiver    TEXT    NOT NULL,
    action_id   INTEGER NOT NULL REFERENCES actions (id),
    rule        TEXT    NOT NULL,
    claimed_at  INTEGER NOT NULL,
    released_at INTEGER,
    PRIMARY KEY (receiver, action_id)
);
CREATE INDEX contact_ledger_action ON contact_ledger (action_id);

-- Do-not-contact: a person blocked by `starling contacts block` or by a rule's
-- `starling.do_not_contact` is never DM'd again (until `starling contacts unblock`).
CREATE TABLE contact_blocks (
    receiver   TEXT    PRIMARY KEY,
    blocked_at INTEGER NOT NULL,
    reason     TEXT,
    rule       TEXT,                               -- NULL: `starling contacts block`
    action_id  INTEGER                             -- the `starling.do_not_contact` action
);

-- Keys known to name the same person: an X user id and a handle seen together
-- (in a DM's event or parameters, or a do-not-contact action).
CREATE TABLE contact_aliases (
    user_key   TEXT    NOT NULL,                   -- id:<X user id>
    handle_key TEXT    NOT NULL,                   -- @<handle>
    seen_at    INTEGER NOT NULL,
    PRIMARY KEY (user_key, handle_key)
);
CREATE INDEX contact_aliases_handle ON contact_aliases (handle_key);
