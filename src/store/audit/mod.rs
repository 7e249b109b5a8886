//! Read-only SQL: users' queries (`starling audit`) and Starling's own listings.
//!
//! A user's SQL passes three guards, each of which would stop a write alone, and
//! the last of which also stops side effects:
//! 1. [`statement::check`]: the text parses as exactly one read query;
//! 2. the connection: SQLite opens the file read-only under an authorizer that
//!    allows reads and reading pragmas only; PostgreSQL makes every transaction
//!    read-only and runs the query inside `BEGIN READ ONLY`;
//! 3. on PostgreSQL, the role: a superuser, or a member of a predefined role that
//!    reaches outside the database, is refused ([`AuditError::Privileged`] prints
//!    the roles snippet), because a READ ONLY transaction does not stop
//!    `COPY … TO PROGRAM`, `lo_export` or `pg_terminate_backend`.
//!
//! A query runs at most `audit.statement_timeout_secs`, and its rows go to a
//! [`RowSink`] as they are read, never collected: a 50,000-row result costs one row.
//!
//! [`query`] serves Starling's own fixed SQL (`jobs list/show`, `accounts list`,
//! `streams`, `rules backtest`) on the main connection with guard 2 only: its text
//! is Starling's, the values a user passes into it are quoted, so there is no
//! user SQL for a powerful role to run — and refusing the main role there would
//! take those commands away from every user who has not set up a reader yet.

mod postgres;
mod sqlite;
pub mod statement;

pub(crate) use postgres::grant_reader;
pub use postgres::{OUTSIDE_ROLES, ROLES_SNIPPET};
pub use statement::{ADMITTED, Dialect, Refusal};

use futures::TryStreamExt;
use serde_json::Value;
use sqlx::{AssertSqlSafe, Column, Connection, Executor, SqlSafeStr, Statement};
use std::time::Duration;

/// Shown when `starling audit` is given no SQL.
pub const LATEST_EVENTS: &str = "SELECT id, kind, dedupe_key, vendor_ts, received_at, sightings, channels \
     FROM events ORDER BY id DESC LIMIT 20";

/// Why a query did not run or did not finish. Callers branch on the kind: a
/// refusal is the user's to fix, a privileged role the operator's.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("cannot open the database read-only: {0}")]
    Open(sqlx::Error),
    #[error("query refused: {0}")]
    Refused(#[from] Refusal),
    #[error(
        "audit refuses to run as PostgreSQL role `{role}`: it {why}, so a query could reach \
         outside the database (run programs, write or read server files, stop other sessions). \
         Run audit as a role that may only read: create it once, then set audit.database_url.\n\n{ROLES_SNIPPET}\n",
        why = .reasons.join(" and ")
    )]
    Privileged { role: String, reasons: Vec<String> },
    #[error("query cancelled: it ran longer than audit.statement_timeout_secs ({secs} s)")]
    Timeout { secs: u64 },
    #[error("query failed: {0} ({ADMITTED})")]
    Query(sqlx::Error),
    #[error("cannot write the result: {0}")]
    Output(std::io::Error),
}

/// Where a result goes, row by row, as it is read.
pub trait RowSink {
    /// Called once, before any row, with the result's column names.
    fn columns(&mut self, names: &[String]) -> std::io::Result<()>;
    fn row(&mut self, values: &[Value]) -> std::io::Result<()>;
}

/// A whole result in memory: for Starling's own small listings only.
#[derive(Debug, Default)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl RowSink for Table {
    fn columns(&mut self, names: &[String]) -> std::io::Result<()> {
        self.columns = names.to_vec();
        Ok(())
    }

    fn row(&mut self, values: &[Value]) -> std::io::Result<()> {
        self.rows.push(values.to_vec());
        Ok(())
    }
}

/// Where and how long a user's query runs (from `[audit]`).
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// `audit.database_url`, or `database.url` when it is unset.
    pub url: &'a str,
    /// 0: no limit.
    pub statement_timeout_secs: u64,
}

impl<'a> Target<'a> {
    pub fn from_settings(settings: &'a crate::config::Settings) -> Self {
        Self {
            url: settings.audit.url(&settings.database.url),
            statement_timeout_secs: settings.audit.statement_timeout_secs,
        }
    }
}

/// Runs a user's `sql` behind every guard, streaming rows into `sink`; returns
/// how many rows were written.
pub async fn run<S: RowSink + ?Sized>(
    target: &Target<'_>,
    sql: &str,
    sink: &mut S,
) -> Result<u64, AuditError> {
    let secs = target.statement_timeout_secs;
    let timeout = (secs > 0).then(|| Duration::from_secs(secs));
    if is_sqlite(target.url) {
        statement::check(sql, Dialect::Sqlite)?;
        let mut conn = sqlite::open(target.url, timeout)
            .await
            .map_err(AuditError::Open)?;
        stream_sqlite(&mut conn, sql, sink, secs).await
    } else {
        statement::check(sql, Dialect::Postgres)?;
        let mut conn = postgres::open(target.url, timeout)
            .await
            .map_err(AuditError::Open)?;
        let who = postgres::identity(&mut conn)
            .await
            .map_err(AuditError::Open)?;
        if !who.too_powerful.is_empty() {
            return Err(AuditError::Privileged {
                role: who.role,
                reasons: who.too_powerful,
            });
        }
        if who.writes {
            tracing::warn!(
                role = %who.role,
                "Audit runs as a role that may write Starling's tables; set audit.database_url to a reader role (README: Audit roles)"
            );
        }
        stream_postgres(&mut conn, sql, sink, secs).await
    }
}

/// Runs Starling's own read-only `sql` on `url` (guard 2 only; see the module doc).
pub async fn query(url: &str, sql: &str) -> Result<Table, AuditError> {
    let mut table = Table::default();
    if is_sqlite(url) {
        let mut conn = sqlite::open(url, None).await.map_err(AuditError::Open)?;
        stream_sqlite(&mut conn, sql, &mut table, 0).await?;
    } else {
        let mut conn = postgres::open(url, None).await.map_err(AuditError::Open)?;
        stream_postgres(&mut conn, sql, &mut table, 0).await?;
    }
    Ok(table)
}

/// Like [`query`], on one of the store's pooled connections (the console: no
/// connection opened per page).
pub async fn query_store(store: &crate::store::Store, sql: &str) -> Result<Table, AuditError> {
    let mut table = Table::default();
    match store {
        crate::store::Store::Sqlite(pool) => {
            let mut conn = pool.acquire().await.map_err(AuditError::Open)?;
            stream_sqlite(&mut conn, sql, &mut table, 0).await?;
        }
        crate::store::Store::Postgres(pool) => {
            // A server that is down makes the pool retry for its whole acquire
            // timeout (10 s); the console answers 503 sooner, as webhooks do.
            let deadline = crate::store::availability::BEGIN_DEADLINE;
            let mut conn = tokio::time::timeout(deadline, pool.acquire())
                .await
                .map_err(|_| AuditError::Open(sqlx::Error::PoolTimedOut))?
                .map_err(AuditError::Open)?;
            stream_postgres(&mut conn, sql, &mut table, 0).await?;
        }
    }
    Ok(table)
}

fn is_sqlite(url: &str) -> bool {
    url.starts_with("sqlite:")
}

fn failed(error: sqlx::Error, secs: u64) -> AuditError {
    if sqlite::interrupted(&error) || postgres::timed_out(&error) {
        AuditError::Timeout { secs }
    } else {
        AuditError::Query(error)
    }
}

fn names<C: Column>(columns: &[C]) -> Vec<String> {
    columns.iter().map(|c| c.name().to_string()).collect()
}

async fn stream_sqlite<S: RowSink + ?Sized>(
    conn: &mut sqlx::SqliteConnection,
    sql: &str,
    sink: &mut S,
    secs: u64,
) -> Result<u64, AuditError> {
    let statement = (&mut *conn)
        .prepare(AssertSqlSafe(sql.to_owned()).into_sql_str())
        .await
        .map_err(|e| failed(e, secs))?;
    sink.columns(&names(statement.columns()))
        .map_err(AuditError::Output)?;
    let mut rows = statement.query().fetch(&mut *conn);
    let mut written = 0;
    while let Some(row) = rows.try_next().await.map_err(|e| failed(e, secs))? {
        sink.row(&sqlite::row(&row)).map_err(AuditError::Output)?;
        written += 1;
    }
    Ok(written)
}

async fn stream_postgres<S: RowSink + ?Sized>(
    conn: &mut sqlx::PgConnection,
    sql: &str,
    sink: &mut S,
    secs: u64,
) -> Result<u64, AuditError> {
    let mut tx = conn
        .begin_with("BEGIN READ ONLY")
        .await
        .map_err(AuditError::Open)?;
    let statement = (&mut *tx)
        .prepare(AssertSqlSafe(sql.to_owned()).into_sql_str())
        .await
        .map_err(|e| failed(e, secs))?;
    sink.columns(&names(statement.columns()))
        .map_err(AuditError::Output)?;
    let mut written = 0;
    {
        let mut rows = statement.query().fetch(&mut *tx);
        while let Some(row) = rows.try_next().await.map_err(|e| failed(e, secs))? {
            sink.row(&postgres::row(&row)).map_err(AuditError::Output)?;
            written += 1;
        }
    }
    tx.rollback().await.map_err(|e| failed(e, secs))?;
    Ok(written)
}
