//! Paused Scrapely accounts and releasing the actions they hold.

use super::Store;
use super::actions::{delay_until, in_tx, now_ms, on_pool};
use crate::queue::PushJobs;
use sqlx::Row;
use std::time::Duration;

/// Whether `account` (a handle or an id) is paused.
pub async fn is_paused(store: &Store, account: &str) -> Result<bool, sqlx::Error> {
    let sql = "SELECT count(*) FROM paused_accounts WHERE account = lower($1) OR account_id = $1";
    let n: i64 =
        on_pool!(store, pool => sqlx::query_scalar(sql).bind(account).fetch_one(pool).await)?;
    Ok(n > 0)
}

/// Paused accounts: (handle, account id).
pub async fn paused_accounts(store: &Store) -> Result<Vec<(String, Option<String>)>, sqlx::Error> {
    let sql = "SELECT account, account_id FROM paused_accounts ORDER BY account";
    on_pool!(store, pool => sqlx::query_as::<_, (String, Option<String>)>(sql).fetch_all(pool).await)
}

/// Resumes a paused account: forgets the pause and releases its held actions
/// (one job each). Returns how many actions were released, or `None` when the
/// account was not paused.
pub async fn resume_account(store: &Store, handle: &str) -> Result<Option<usize>, sqlx::Error> {
    let now = now_ms();
    let forget = "DELETE FROM paused_accounts WHERE account = lower($1) OR account_id = $1 \
                  RETURNING account, account_id";
    let release = "UPDATE actions SET status = 'pending', run_at = CASE WHEN run_at > $3 THEN run_at ELSE $3 END, \
                   updated_at = $3 WHERE status = 'held' AND (lower(account) = $1 OR account = $2) \
                   RETURNING id, run_at";
    Ok(in_tx!(store, tx => {
        let gone = sqlx::query(forget).bind(handle).fetch_optional(&mut *tx).await?;
        match gone {
            None => None,
            Some(row) => {
                let (account, id): (String, Option<String>) = (row.try_get(0)?, row.try_get(1)?);
                let released = sqlx::query(release).bind(&account).bind(&id).bind(now)
                    .fetch_all(&mut *tx).await?;
                let jobs: Vec<(i64, Duration)> = released
                    .iter()
                    .map(|r| Ok((r.try_get(0)?, delay_until(r.try_get(1)?, now))))
                    .collect::<Result<_, sqlx::Error>>()?;
                tx.push_jobs(&jobs).await?;
                Some(jobs.len())
            }
        }
    }))
}
