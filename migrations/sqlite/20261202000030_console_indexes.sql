-- The console's lists (src/console/queries.rs) page newest first by id under one
-- filter, `WHERE kind = ? ORDER BY id DESC LIMIT 50`: each needs an index whose
-- entries are in id order within the filtered value, so a page reads 50 entries
-- however many rows match (benches/console.rs). SQLite ends every index with
-- the rowid (`id`), so an index on the column alone is in id order. The
-- intent filter already has one (events_by_intent); the rule filter too
-- (actions_rule). `(kind, received_at)` and `(status, run_at)` are in time
-- order instead, which a page by id cannot use without sorting every match.
CREATE INDEX events_kind_id ON events (kind);
CREATE INDEX actions_status_id ON actions (status);
-- The accounts page counts each paused account's held actions: a partial
-- index of the held ones only (few; written only when an action is held).
CREATE INDEX actions_held_account ON actions (account) WHERE status = 'held';
