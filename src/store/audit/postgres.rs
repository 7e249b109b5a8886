//! PostgreSQL audit connections: every transaction read-only, a statement
//! timeout, and — for users' SQL — a role that may do nothing but read.
//!
//! A READ ONLY transaction blocks table writes, not side effects: a superuser's
//! `COPY … TO PROGRAM`, `lo_export` or `pg_terminate_backend` run inside one. So
//! user SQL runs only as a role that is no superuser and holds none of the
//! predefined roles that reach outside the database ([`OUTSIDE_ROLES`]).

use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgRow};
use sqlx::{Connection, PgConnection, Row, TypeInfo, ValueRef};
use std::str::FromStr;
use std::time::Duration;

/// Predefined roles whose members act outside the database: run programs, write
/// or read the server's files, signal other sessions.
pub const OUTSIDE_ROLES: &[&str] = &[
    "pg_execute_server_program",
    "pg_write_server_files",
    "pg_read_server_files",
    "pg_signal_backend",
];

/// The operator's one-time step (also in the README and, for docker compose, in
/// `deploy/postgres/init/`): an owner role for Starling and a reader for audit.
pub const ROLES_SNIPPET: &str = "\
-- Once, as a superuser, connected to Starling's database (here `starling`):
CREATE ROLE starling LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD 'owner-password';
CREATE ROLE starling_audit LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD 'reader-password';
ALTER DATABASE starling OWNER TO starling;
ALTER ROLE starling_audit SET default_transaction_read_only = on;
-- Then run Starling as the owner and audit as the reader:
--   database.url       = postgres://starling:owner-password@HOST/starling
--   audit.database_url = postgres://starling_audit:reader-password@HOST/starling
-- Starling grants starling_audit SELECT on its tables at its next start.";

/// Who the connection is, as far as audit cares.
pub(super) struct Identity {
    pub role: String,
    /// Why the role may not run users' SQL (empty: it may).
    pub too_powerful: Vec<String>,
    /// It may write Starling's tables (it owns them: the main role).
    pub writes: bool,
}

/// Opens `url` with every transaction read-only and `timeout` as `statement_timeout`.
pub(super) async fn open(
    url: &str,
    timeout: Option<Duration>,
) -> Result<PgConnection, sqlx::Error> {
    let timeout_ms = timeout.map_or(0, |t| t.as_millis()).to_string();
    let options = PgConnectOptions::from_str(url)?.options([
        ("default_transaction_read_only", "on"),
        ("statement_timeout", timeout_ms.as_str()),
    ]);
    PgConnection::connect_with(&options).await
}

pub(super) async fn identity(conn: &mut PgConnection) -> Result<Identity, sqlx::Error> {
    let row = sqlx::query(
        "SELECT current_user::text, \
           EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolsuper AND pg_has_role(current_user, r.oid, 'MEMBER')), \
           EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolcreaterole AND pg_has_role(current_user, r.oid, 'MEMBER')), \
           ARRAY(SELECT r.rolname::text FROM pg_roles r \
                 WHERE r.rolname = ANY($1) AND pg_has_role(current_user, r.oid, 'MEMBER') ORDER BY 1), \
           COALESCE(has_table_privilege(to_regclass('events'), 'INSERT'), false)",
    )
    .bind(OUTSIDE_ROLES)
    .fetch_one(&mut *conn)
    .await?;
    let mut too_powerful = Vec::new();
    if row.get::<bool, _>(1) {
        too_powerful.push("is a superuser".to_string());
    } else {
        if row.get::<bool, _>(2) {
            too_powerful.push("may create roles (and grant itself any of them)".to_string());
        }
        for role in row.get::<Vec<String>, _>(3) {
            too_powerful.push(format!("is a member of {role}"));
        }
    }
    Ok(Identity {
        role: row.get(0),
        too_powerful,
        writes: row.get(4),
    })
}

/// Whether `error` is PostgreSQL cancelling a statement past `statement_timeout`.
pub(super) fn timed_out(error: &sqlx::Error) -> bool {
    error.as_database_error().is_some_and(|e| {
        e.code().as_deref() == Some("57014") && e.message().contains("statement timeout")
    })
}

/// Grants `reader` SELECT on Starling's tables and views (and, by default
/// privileges, on tables created later), through the function the
/// `audit_reader` migration installed. Nothing happens if the role does not exist.
pub(crate) async fn grant_reader(pool: &sqlx::PgPool, reader: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT starling_grant_audit_reader($1)")
        .bind(reader)
        .execute(pool)
        .await
        .map(|_| ())
}

pub(super) fn row(row: &PgRow) -> Vec<Value> {
    (0..row.len())
        .map(|i| {
            let raw = row.try_get_raw(i).expect("index is in range");
            if raw.is_null() {
                return Value::Null;
            }
            let type_name = raw.type_info().name().to_string();
            value(row, i, &type_name)
                .unwrap_or_else(|_| Value::from(format!("<{type_name}: cast it to text>")))
        })
        .collect()
}

fn value(row: &PgRow, i: usize, type_name: &str) -> Result<Value, sqlx::Error> {
    Ok(match type_name {
        "BOOL" => Value::from(row.try_get::<bool, _>(i)?),
        "INT2" => Value::from(row.try_get::<i16, _>(i)?),
        "INT4" => Value::from(row.try_get::<i32, _>(i)?),
        "INT8" => Value::from(row.try_get::<i64, _>(i)?),
        "FLOAT4" => Value::from(row.try_get::<f32, _>(i)?),
        "FLOAT8" => Value::from(row.try_get::<f64, _>(i)?),
        "JSON" | "JSONB" => row.try_get::<Value, _>(i)?,
        "TIMESTAMPTZ" => Value::from(crate::clock::format_utc(
            row.try_get::<time::OffsetDateTime, _>(i)?,
        )),
        "TIMESTAMP" => Value::from(row.try_get::<time::PrimitiveDateTime, _>(i)?.to_string()),
        "DATE" => Value::from(row.try_get::<time::Date, _>(i)?.to_string()),
        "BYTEA" => Value::from(format!("\\x{}", hex::encode(row.try_get::<Vec<u8>, _>(i)?))),
        _ => Value::from(row.try_get_unchecked::<String, _>(i)?),
    })
}
