-- Retention (README "Retention and backup") deletes old events with their done
-- actions, but never the contact ledger: whom Starling DM'd, and when, must
-- outlive the action that did it (the contact window and `starling contacts
-- show` read it). So `contact_claims` and `contact_ledger` keep their
-- `action_id` without a foreign key to `actions` (readers LEFT JOIN it; an
-- action pruned shows no status).
ALTER TABLE contact_claims DROP CONSTRAINT IF EXISTS contact_claims_action_id_fkey;
ALTER TABLE contact_ledger DROP CONSTRAINT IF EXISTS contact_ledger_action_id_fkey;
