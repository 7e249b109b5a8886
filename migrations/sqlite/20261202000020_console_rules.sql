-- Issue 16: the console's rules page counts each loaded rule's actions over the
-- last 24 h and 7 d, and shows its latest evaluation error. Both are read by
-- (rule, time) ranges so the page costs the same with millions of rows:
-- actions by (rule, created_at), and the few error rows by a partial index
-- (no cost on the rows that fired).
CREATE INDEX actions_rule_created_at ON actions (rule, created_at);
CREATE INDEX rule_matches_rule_errors ON rule_matches (rule, matched_at) WHERE outcome = 'error';
