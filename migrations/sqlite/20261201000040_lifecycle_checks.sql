-- The action lifecycle's closed sets (src/store/status.rs), checked by the
-- database: a status or outcome no Starling knows is refused, whoever writes it.
-- SQLite cannot add a CHECK to an existing table without rebuilding it (and the
-- rebuild would drop the table that action_attempts and the audit views refer
-- to), so the same check is made by triggers on insert and on update.
CREATE TRIGGER actions_status_known_insert BEFORE INSERT ON actions
WHEN NEW.status NOT IN ('pending', 'running', 'failed', 'succeeded', 'dead', 'held', 'outcome_unknown', 'skipped', 'cancelled', 'dry_run')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: actions_status_known'); END;

CREATE TRIGGER actions_status_known_update BEFORE UPDATE OF status ON actions
WHEN NEW.status NOT IN ('pending', 'running', 'failed', 'succeeded', 'dead', 'held', 'outcome_unknown', 'skipped', 'cancelled', 'dry_run')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: actions_status_known'); END;

CREATE TRIGGER action_attempts_outcome_known_insert BEFORE INSERT ON action_attempts
WHEN NEW.outcome IS NOT NULL AND NEW.outcome NOT IN ('succeeded', 'retry', 'dead', 'reconciled', 'outcome_unknown', 'skipped', 'dry_run', 'abandoned')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: action_attempts_outcome_known'); END;

CREATE TRIGGER action_attempts_outcome_known_update BEFORE UPDATE OF outcome ON action_attempts
WHEN NEW.outcome IS NOT NULL AND NEW.outcome NOT IN ('succeeded', 'retry', 'dead', 'reconciled', 'outcome_unknown', 'skipped', 'dry_run', 'abandoned')
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: action_attempts_outcome_known'); END;
