-- `starling audit` runs users' SQL as a reader role that may only SELECT
-- (README: "Audit roles"). Creating that role is the operator's one-time step;
-- granting it is Starling's: this function grants the role SELECT on every table
-- and view of Starling's schema that the migrating role owns, and makes SELECT a
-- default privilege on tables that role creates later. This migration calls it
-- for the conventional name `starling_audit`; every start and `starling migrate`
-- call it again with `audit.reader_role` (Store::grant_audit_reader), so a role
-- created after the first start, or named otherwise, is granted too.
-- Nothing happens while the role does not exist (tests, users who skip the step),
-- and nothing is rewritten that is granted already.
CREATE FUNCTION starling_grant_audit_reader(reader text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    reader_oid oid := (SELECT oid FROM pg_roles WHERE rolname = reader);
    me oid := (SELECT oid FROM pg_roles WHERE rolname = current_user);
    schema_name text := current_schema();
    schema_oid oid := (SELECT oid FROM pg_namespace WHERE nspname = current_schema());
    relation record;
BEGIN
    IF reader_oid IS NULL THEN
        RETURN;
    END IF;
    -- Two replicas starting at once would otherwise race on the same catalog rows.
    PERFORM pg_advisory_xact_lock(hashtext('starling_grant_audit_reader'));
    IF NOT has_schema_privilege(reader_oid, schema_oid, 'USAGE') THEN
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', schema_name, reader);
    END IF;
    FOR relation IN
        SELECT c.relname FROM pg_class c
        WHERE c.relnamespace = schema_oid
          AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND pg_has_role(me, c.relowner, 'USAGE')
          AND NOT has_table_privilege(reader_oid, c.oid, 'SELECT')
    LOOP
        EXECUTE format('GRANT SELECT ON %I.%I TO %I', schema_name, relation.relname, reader);
    END LOOP;
    IF NOT EXISTS (
        SELECT 1 FROM pg_default_acl d
        WHERE d.defaclrole = me
          AND d.defaclnamespace = schema_oid
          AND d.defaclobjtype = 'r'
          AND aclcontains(d.defaclacl, makeaclitem(reader_oid, me, 'SELECT', false))
    ) THEN
        EXECUTE format(
            'ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT ON TABLES TO %I',
            schema_name, reader);
    END IF;
END
$$;

REVOKE ALL ON FUNCTION starling_grant_audit_reader(text) FROM PUBLIC;

SELECT starling_grant_audit_reader('starling_audit');
