//! The database: one [`Store`] over SQLite (the embedded default) or PostgreSQL.
//!
//! - [`Store::connect`] opens the pool (SQLite in WAL with `synchronous=FULL` and a
//!   busy timeout on *every* connection, set in the connect options rather than by
//!   one-off `PRAGMA`s so no pooled connection escapes them).
//! - [`Store::migrate`] applies Starling's migrations (`migrations/{sqlite,postgres}`,
//!   history in `starling_migrations`) and apalis's queue migrations (history in its
//!   own table), so the two never clash (see `shared/APALIS.md` §1).
//! - [`writer`] commits events in groups ([`replay`] runs stored events through its rule step again); [`events`] and [`quarantine`] hold the SQL ([`event_intent`] classifies replies stored before intent was);
//!   [`audit`] runs users' read-only queries, and [`Store::grant_audit_reader`]
//!   lets the PostgreSQL reader role read every table.
//!
//! **The store idiom** (SQL that may differ per backend), one rule for every file:
//! a statement that reads the same on both backends is written once, with `$n`
//! parameters, integer milliseconds and JSON as text, and runs through
//! [`action_rows::on_pool!`] (a pool) or [`action_rows::in_tx!`] (its own
//! transaction); a step that runs inside a caller's transaction is a method of a
//! small trait over the connection (`PushJobs`, `OutboxConn`, `RateConn`,
//! `ContactConn`, `FinishConn`, the writer's `GroupSql`), implemented for both
//! connection types by one macro when the SQL is the same, and by one impl per
//! backend only where it is not (the writer's multi-row `VALUES` on SQLite against
//! `UNNEST` arrays on PostgreSQL, whose bodies are the `*_sqlite` / `*_postgres`
//! functions of [`events`] and [`matches`]). Nothing else branches on the backend.
//!
//! **Errors.** Where a caller branches, the error is typed: [`StoreError`]
//! (`Unavailable` answers 503, `WriterClosed` means shutdown),
//! `attempts::NotStarted` (a claim lost, a contact refused). Everything else is a
//! `sqlx::Error` passed up unchanged and given context (`anyhow`) only where it is
//! reported, at the edges: the HTTP handlers, the CLI, the executor's log line.

pub mod accounts;
pub mod action_rows;
pub mod actions;
pub mod attempts;
pub mod audit;
pub mod availability;
pub mod contacts;
pub mod deliveries;
pub mod event_intent;
pub mod events;
pub mod finishes;
pub mod gauges;
pub mod hourly;
pub mod jobs;
pub mod lifecycle;
pub mod matches;
pub mod outbox;
pub mod quarantine;
pub mod ratelimit;
pub mod replay;
pub mod retention;
pub mod startup;
pub mod status;
pub mod streams;
pub mod tweets;
pub mod writer;

use crate::secret::redact_url;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::time::Duration;

/// Name of Starling's own migration history table (apalis keeps `_sqlx_migrations`).
pub const MIGRATIONS_TABLE: &str = "starling_migrations";

/// How long a SQLite connection waits for a lock before failing with `SQLITE_BUSY`.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the event writer has stopped")]
    WriterClosed,
    #[error("the database cannot take commits right now")]
    Unavailable,
}

/// The database, whichever backend the URL names. Cheap to clone.
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Store {
    /// Opens a pool for `url` (`sqlite://PATH` or `postgres://…`).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let connect_err = |source| StoreError::Connect {
            url: redact_url(url),
            source,
        };
        if url.starts_with("sqlite:") {
            let options = quiet_statement_logs(sqlite_options(url).map_err(connect_err)?);
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections)
                .connect_with(options)
                .await
                .map_err(connect_err)?;
            Ok(Store::Sqlite(pool))
        } else {
            let options =
                quiet_statement_logs(PgConnectOptions::from_str(url).map_err(connect_err)?);
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .map_err(connect_err)?;
            Ok(Store::Postgres(pool))
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Applies Starling's and apalis's migrations; safe to run on every start and
    /// from several replicas at once (the migrators take a lock).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(pool) => {
                own_migrator(sqlx::migrate!("./migrations/sqlite"))
                    .run(pool)
                    .await?;
                // Not `SqliteStorage::setup()`: it turns `synchronous` OFF on one pooled connection.
                apalis_sqlite::SqliteStorage::migrations().run(pool).await?;
            }
            Store::Postgres(pool) => {
                own_migrator(sqlx::migrate!("./migrations/postgres"))
                    .run(pool)
                    .await?;
                apalis_postgres::PostgresStorage::migrations()
                    .run(pool)
                    .await?;
            }
        }
        Ok(())
    }

    /// Grants `reader` (`audit.reader_role`) SELECT on Starling's tables and views,
    /// now and by default for tables created later, so `starling audit` can run as
    /// a role that may do nothing else. Run at every start and `starling migrate`,
    /// so a reader created after the first start is granted at the next one; a
    /// no-op on SQLite and while no such role exists.
    pub async fn grant_audit_reader(&self, reader: &str) -> Result<(), StoreError> {
        if let Store::Postgres(pool) = self {
            audit::grant_reader(pool, reader).await?;
        }
        Ok(())
    }

    /// Readiness probe: a round trip to the database.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(pool) => sqlx::query("SELECT 1").execute(pool).await.map(|_| ())?,
            Store::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(|_| ())?,
        }
        Ok(())
    }

    pub async fn close(&self) {
        match self {
            Store::Sqlite(pool) => pool.close().await,
            Store::Postgres(pool) => pool.close().await,
        }
    }
}

/// Rows per multi-row SQLite statement, well under its 32,766 bound parameters.
pub const SQLITE_ROWS_PER_STATEMENT: usize = 1000;

/// Upper bound on the bytes sent in one PostgreSQL statement.
///
/// sqlx 0.9.0 no longer sets `TCP_NODELAY` (transact-rs/sqlx#4335, fixed upstream
/// by #4336 but not released): a message larger than the socket's initial send
/// buffer goes out in several writes, and Nagle's algorithm then waits for the
/// server's delayed ACK — 40 ms per statement. Group writes are split to stay under it.
pub const POSTGRES_STATEMENT_BYTES: usize = 8 * 1024;

/// Splits `items` into consecutive chunks of at most `limit` estimated bytes (at
/// least one item each).
pub fn chunks_by_size<T>(items: &[T], limit: usize, size: impl Fn(&T) -> usize) -> Vec<&[T]> {
    let mut chunks = Vec::new();
    let mut rest = items;
    while !rest.is_empty() {
        let mut bytes = 0;
        let take = rest.iter().take_while(|item| {
            bytes += size(item);
            bytes <= limit
        });
        let (chunk, tail) = rest.split_at(take.count().max(1));
        chunks.push(chunk);
        rest = tail;
    }
    chunks
}

fn own_migrator(mut migrator: sqlx::migrate::Migrator) -> sqlx::migrate::Migrator {
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
}

/// sqlx logs a statement slower than a second at WARN, with the whole SQL text
/// (the queue's polling queries are pages long): an operator's log gets a wall
/// of SQL for a busy moment. They go to DEBUG (`log.filter = "sqlx=debug"`
/// shows them); our own slow paths say what was slow in a sentence.
fn quiet_statement_logs<O: sqlx::ConnectOptions>(options: O) -> O {
    options.log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1))
}

/// Connect options applied to every SQLite connection the pool opens.
pub fn sqlite_options(url: &str) -> Result<SqliteConnectOptions, sqlx::Error> {
    Ok(SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
        .foreign_keys(true))
}
