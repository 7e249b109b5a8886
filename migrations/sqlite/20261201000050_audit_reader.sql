-- PostgreSQL's migration of this name lets a reader role SELECT Starling's tables
-- (`starling audit` runs as that role there). SQLite has no roles: audit opens the
-- file read-only under an authorizer instead (src/store/audit/sqlite.rs). Kept so
-- the two backends' migrations keep the same names.
SELECT 1;
