-- The console's lists (src/console/queries.rs) page newest first by id under one
-- filter, `WHERE kind = $1 ORDER BY id DESC LIMIT 50`: each needs an index on
-- (the column, id), so a page reads 50 entries however many rows match
-- (benches/console.rs). `(kind, received_at)` and `(status, run_at)` are in
-- time order instead, which a page by id cannot use without sorting every
-- match. The intent index becomes `(intent, id)` (same rows, one more column:
-- no extra index to write per event); the rule filter has one (actions_rule).
CREATE INDEX events_kind_id ON events (kind, id);
DROP INDEX events_by_intent;
CREATE INDEX events_intent_id ON events (intent, id) WHERE intent IS NOT NULL;
CREATE INDEX actions_status_id ON actions (status, id);
-- The accounts page counts each paused account's held actions: a partial
-- index of the held ones only (few; written only when an action is held).
CREATE INDEX actions_held_account ON actions (account) WHERE status = 'held';
