-- The action lifecycle's closed sets (src/store/status.rs), checked by the
-- database: a status or outcome no Starling knows is refused, whoever writes it.
ALTER TABLE actions ADD CONSTRAINT actions_status_known
    CHECK (status IN ('pending', 'running', 'failed', 'succeeded', 'dead', 'held', 'outcome_unknown', 'skipped', 'cancelled', 'dry_run'));
ALTER TABLE action_attempts ADD CONSTRAINT action_attempts_outcome_known
    CHECK (outcome IS NULL OR outcome IN ('succeeded', 'retry', 'dead', 'reconciled', 'outcome_unknown', 'skipped', 'dry_run', 'abandoned'));
