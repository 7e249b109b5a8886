//! SQLite audit connections: opened read-only, with an authorizer that lets a
//! statement read and nothing else, and a progress handler that interrupts a
//! statement past its deadline.

use crate::store::sqlite_options;
use serde_json::Value;
use sqlx::sqlite::SqliteRow;
use sqlx::{Connection, Row, SqliteConnection, TypeInfo, ValueRef};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Pragmas that only read, whether or not they are given an argument (the
/// argument names a table or index, or bounds a check).
const READ_PRAGMAS_WITH_ARGUMENT: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_info",
    "index_xinfo",
    "index_list",
    "foreign_key_list",
    "foreign_key_check",
    "integrity_check",
    "quick_check",
];

/// Pragmas that read when given no argument (with one, most of them set).
const READ_PRAGMAS_BARE: &[&str] = &[
    "application_id",
    "user_version",
    "schema_version",
    "data_version",
    "page_count",
    "page_size",
    "freelist_count",
    "encoding",
    "journal_mode",
    "foreign_keys",
    "database_list",
    "collation_list",
    "function_list",
    "module_list",
    "pragma_list",
    "compile_options",
];

/// Opens `url` read-only (never creating it) with the authorizer and, if
/// `timeout` is given, a deadline.
pub(super) async fn open(
    url: &str,
    timeout: Option<Duration>,
) -> Result<SqliteConnection, sqlx::Error> {
    let options = sqlite_options(url)?
        .create_if_missing(false)
        .read_only(true);
    let mut conn = SqliteConnection::connect_with(&options).await?;
    guard(&mut conn, timeout).await?;
    Ok(conn)
}

/// Process-wide origin of the deadlines handed to SQLite.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Installs the authorizer and the deadline on `conn`.
async fn guard(conn: &mut SqliteConnection, timeout: Option<Duration>) -> Result<(), sqlx::Error> {
    use libsqlite3_sys as ffi;
    use std::ffi::{CStr, c_char, c_int, c_void};

    unsafe extern "C" fn authorize(
        _user_data: *mut c_void,
        action: c_int,
        arg1: *const c_char,
        arg2: *const c_char,
        _db_name: *const c_char,
        _trigger: *const c_char,
    ) -> c_int {
        match action {
            ffi::SQLITE_SELECT
            | ffi::SQLITE_READ
            | ffi::SQLITE_FUNCTION
            | ffi::SQLITE_RECURSIVE => ffi::SQLITE_OK,
            ffi::SQLITE_PRAGMA if !arg1.is_null() => {
                // SAFETY: SQLite passes the pragma's name as a NUL-terminated string.
                let name = unsafe { CStr::from_ptr(arg1) }.to_string_lossy();
                let name = name.to_ascii_lowercase();
                let reads = READ_PRAGMAS_WITH_ARGUMENT.contains(&name.as_str())
                    || (arg2.is_null() && READ_PRAGMAS_BARE.contains(&name.as_str()));
                if reads {
                    ffi::SQLITE_OK
                } else {
                    ffi::SQLITE_DENY
                }
            }
            _ => ffi::SQLITE_DENY,
        }
    }

    /// `deadline` is not a pointer but milliseconds since [`epoch`]: nothing to
    /// free, so the handler stays sound however long SQLite keeps it.
    unsafe extern "C" fn past_deadline(deadline: *mut c_void) -> c_int {
        let now = epoch().elapsed().as_millis() as usize;
        c_int::from(now >= deadline as usize)
    }

    let deadline = timeout.map(|t| (epoch().elapsed() + t).as_millis() as usize);
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    // SAFETY: the handle is locked for our exclusive use while we call into SQLite;
    // `authorize` touches no user data and `past_deadline` reads its argument as
    // a number, never dereferencing it.
    let rc = unsafe {
        if let Some(deadline) = deadline {
            ffi::sqlite3_progress_handler(db, 10_000, Some(past_deadline), deadline as *mut c_void);
        }
        ffi::sqlite3_set_authorizer(db, Some(authorize), std::ptr::null_mut())
    };
    if rc != ffi::SQLITE_OK {
        return Err(sqlx::Error::Protocol(format!(
            "could not install the read-only authorizer (SQLite code {rc})"
        )));
    }
    Ok(())
}

/// Whether `error` is SQLite's `SQLITE_INTERRUPT` (the deadline passed).
pub(super) fn interrupted(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "9")
}

pub(super) fn row(row: &SqliteRow) -> Vec<Value> {
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
