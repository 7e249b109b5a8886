//! Read-only SQL for users (`starling audit`).
//!
//! Writes are refused by the database itself, not by a keyword filter:
//! - SQLite: the connection is opened read-only *and* an authorizer allows only
//!   reading statements (no `ATTACH`, no `VACUUM INTO`, no pragma assignments);
//! - PostgreSQL: the session defaults to read-only transactions and the query runs
//!   inside `BEGIN READ ONLY`, as a single prepared statement.

use super::sqlite_options;
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgRow};
use sqlx::sqlite::SqliteRow;
use sqlx::{Column, Connection, PgConnection, Row, SqliteConnection, TypeInfo, ValueRef};
use std::str::FromStr;

/// Shown when `starling audit` is given no SQL.
pub const LATEST_EVENTS: &str = "SELECT id, kind, dedupe_key, vendor_ts, received_at, sightings, channels \
     FROM events ORDER BY id DESC LIMIT 20";

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("cannot open the database read-only: {0}")]
    Open(sqlx::Error),
    #[error(
        "query refused or failed: {0} (audit is read-only: SELECT, WITH, EXPLAIN and PRAGMA reads only)"
    )]
    Query(sqlx::Error),
}

/// A result set: column names and rows of JSON values, in the query's order.
#[derive(Debug, Default)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// Runs `sql` read-only on the database at `url`.
pub async fn query(url: &str, sql: &str) -> Result<Table, AuditError> {
    if url.starts_with("sqlite:") {
        query_sqlite(url, sql).await
    } else {
        query_postgres(url, sql).await
    }
}

async fn query_sqlite(url: &str, sql: &str) -> Result<Table, AuditError> {
    let options = sqlite_options(url)
        .map_err(AuditError::Open)?
        .create_if_missing(false)
        .read_only(true);
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .map_err(AuditError::Open)?;
    allow_only_reads(&mut conn)
        .await
        .map_err(AuditError::Open)?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_all(&mut conn)
        .await
        .map_err(AuditError::Query)?;
    Ok(Table {
        columns: column_names(rows.first().map(|r| r.columns())),
        rows: rows.iter().map(sqlite_row).collect(),
    })
}

async fn query_postgres(url: &str, sql: &str) -> Result<Table, AuditError> {
    let options = PgConnectOptions::from_str(url)
        .map_err(AuditError::Open)?
        .options([("default_transaction_read_only", "on")]);
    let mut conn = PgConnection::connect_with(&options)
        .await
        .map_err(AuditError::Open)?;
    let mut tx = conn
        .begin_with("BEGIN READ ONLY")
        .await
        .map_err(AuditError::Open)?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_all(&mut *tx)
        .await
        .map_err(AuditError::Query)?;
    tx.rollback().await.map_err(AuditError::Query)?;
    Ok(Table {
        columns: column_names(rows.first().map(|r| r.columns())),
        rows: rows.iter().map(postgres_row).collect(),
    })
}

fn column_names<C: Column>(columns: Option<&[C]>) -> Vec<String> {
    columns
        .unwrap_or_default()
        .iter()
        .map(|c| c.name().to_string())
        .collect()
}

fn sqlite_row(row: &SqliteRow) -> Vec<Value> {
    (0..row.len())
        .map(|i| {
            let raw = row.try_get_raw(i).expect("index is in range");
            if raw.is_null() {
                return Value::Null;
            }
            // SQLite values carry their own storage class, whatever the column says.
            match raw.type_info().name() {
                "INTEGER" => row.try_get_unchecked::<i64, _>(i).map(Value::from),
                "REAL" => row.try_get_unchecked::<f64, _>(i).map(Value::from),
                "BLOB" => row
                    .try_get_unchecked::<Vec<u8>, _>(i)
                    .map(|b| Value::from(format!("x'{}'", hex::encode(b)))),
                _ => row.try_get_unchecked::<String, _>(i).map(Value::from),
            }
            .unwrap_or_else(|e| Value::from(format!("<undecodable: {e}>")))
        })
        .collect()
}

fn postgres_row(row: &PgRow) -> Vec<Value> {
    (0..row.len())
        .map(|i| {
            let raw = row.try_get_raw(i).expect("index is in range");
            if raw.is_null() {
                return Value::Null;
            }
            let type_name = raw.type_info().name().to_string();
            postgres_value(row, i, &type_name)
                .unwrap_or_else(|_| Value::from(format!("<{type_name}: cast it to text>")))
        })
        .collect()
}

fn postgres_value(row: &PgRow, i: usize, type_name: &str) -> Result<Value, sqlx::Error> {
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

/// Installs an authorizer that lets a statement read and nothing else.
async fn allow_only_reads(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    use libsqlite3_sys as ffi;
    use std::ffi::{c_char, c_int, c_void};

    unsafe extern "C" fn authorize(
        _user_data: *mut c_void,
        action: c_int,
        _arg1: *const c_char,
        arg2: *const c_char,
        _db_name: *const c_char,
        _trigger: *const c_char,
    ) -> c_int {
        match action {
            ffi::SQLITE_SELECT
            | ffi::SQLITE_READ
            | ffi::SQLITE_FUNCTION
            | ffi::SQLITE_RECURSIVE => ffi::SQLITE_OK,
            // `PRAGMA table_info(events)` reads; `PRAGMA x = y` (arg2 set) would write.
            ffi::SQLITE_PRAGMA if arg2.is_null() => ffi::SQLITE_OK,
            _ => ffi::SQLITE_DENY,
        }
    }

    let mut handle = conn.lock_handle().await?;
    // SAFETY: the handle is locked for our exclusive use while we call into SQLite,
    // and `authorize` is a plain function that touches no user data.
    let rc = unsafe {
        ffi::sqlite3_set_authorizer(
            handle.as_raw_handle().as_ptr(),
            Some(authorize),
            std::ptr::null_mut(),
        )
    };
    if rc != ffi::SQLITE_OK {
        return Err(sqlx::Error::Protocol(format!(
            "could not install the read-only authorizer (SQLite code {rc})"
        )));
    }
    Ok(())
}
