//! The job queue's finished jobs: apalis keeps every job it ran (`Jobs` on
//! SQLite, `apalis.jobs` on PostgreSQL) with its `done_at`. A job of ours that
//! is done, killed, or failed with no attempt left never runs again and only
//! names an action; past `retention.events_days` it goes, in batches like the
//! rest. Jobs waiting or running are never touched. The queue's tables differ
//! per backend (names, `done_at` as Unix seconds or TIMESTAMPTZ), so this is
//! the one place retention writes SQL twice.

use super::super::Store;
use super::super::action_rows::{in_tx, on_pool};
use super::Mode;
use crate::store::jobs::QUEUE;
use sqlx::AssertSqlSafe;

/// Finished jobs of Starling's queue done before `$1` (Unix seconds).
fn finished(store: &Store) -> String {
    finished_on(matches!(store, Store::Sqlite(_)))
}

fn finished_on(sqlite: bool) -> String {
    let (table, before) = match sqlite {
        true => ("Jobs", "$1"),
        false => ("apalis.jobs", "to_timestamp($1)"),
    };
    format!(
        "FROM {table} WHERE job_type = '{QUEUE}' AND done_at IS NOT NULL AND done_at < {before} \
         AND (status IN ('Done', 'Killed') OR (status = 'Failed' AND attempts >= max_attempts))"
    )
}

/// Deletes (or counts) the finished jobs done before `before_secs`, `batch` per
/// transaction; `on_batch` hears each batch's count.
pub(super) async fn prune(
    store: &Store,
    before_secs: f64,
    batch: i64,
    mode: Mode,
    on_batch: &mut (dyn FnMut(u64) + Send + Sync),
) -> Result<u64, sqlx::Error> {
    let finished = finished(store);
    if mode == Mode::DryRun {
        let sql = AssertSqlSafe(format!("SELECT COUNT(*) {finished}"));
        let n: i64 = on_pool!(store, pool => {
            sqlx::query_scalar(sql).bind(before_secs).fetch_one(pool).await
        })?;
        on_batch(n as u64);
        return Ok(n as u64);
    }
    let key = match store {
        Store::Sqlite(_) => "rowid",
        Store::Postgres(_) => "id",
    };
    let table = finished.split_whitespace().nth(1).expect("FROM table");
    let delete = format!(
        "DELETE FROM {table} WHERE {key} IN (SELECT {key} {finished} ORDER BY done_at LIMIT $2)"
    );
    let mut total = 0;
    loop {
        let sql = AssertSqlSafe(delete.clone());
        let started = std::time::Instant::now();
        let n = in_tx!(store, tx => {
            sqlx::query(sql).bind(before_secs).bind(batch).execute(&mut *tx).await?.rows_affected()
        });
        total += n;
        if n > 0 {
            on_batch(n);
        }
        if (n as i64) < batch {
            return Ok(total);
        }
        super::rest_after(started.elapsed()).await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_jobs_that_never_run_again_are_chosen() {
        for sqlite in [true, false] {
            let sql = super::finished_on(sqlite);
            assert!(sql.contains("job_type = 'starling.actions'"), "{sql}");
            assert!(
                !sql.contains("Pending") && !sql.contains("Running") && !sql.contains("Queued")
            );
            assert!(sql.contains("attempts >= max_attempts"), "{sql}");
        }
    }
}
