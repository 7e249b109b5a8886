#!/bin/sh
# Run once by the postgres image when it initialises an empty data volume
# (mounted at /docker-entrypoint-initdb.d), as the POSTGRES_USER superuser.
# It makes the two roles of the README's "Audit roles" snippet, with the
# passwords docker-compose.yml passes in:
# - starling: owns the database and every table Starling creates; no superuser;
# - starling_audit: `starling audit` runs as it; Starling grants it SELECT on its
#   tables and views at each start, and nothing else.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    --set owner_password="$STARLING_DB_PASSWORD" \
    --set reader_password="$STARLING_AUDIT_DB_PASSWORD" <<'SQL'
CREATE ROLE starling LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'owner_password';
CREATE ROLE starling_audit LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'reader_password';
ALTER DATABASE starling OWNER TO starling;
ALTER ROLE starling_audit SET default_transaction_read_only = on;
SQL
