//! Paused Scrapely accounts and releasing the actions they hold, and the
//! Scrapely accounts Starling has seen (`scrapely_accounts`: id → handle, from
//! every `GET /accounts` and every `account_paused` naming both), which is how a
//! pause that names only the account id finds the handle whose DMs it holds.

use super::Store;
use super::action_rows::{delay_until, in_tx, now_ms, on_pool};
use crate::store::jobs::PushJobs;
use sqlx::Row;
use std::time::Duration;

/// Records a Scrapely account's id and handle (`$1` id, `$2` handle, `$3` ms).
pub(super) const REMEMBER: &str = "INSERT INTO scrapely_accounts (account_id, handle, seen_at) \
    VALUES ($1, lower($2), $3) \
    ON CONFLICT (account_id) DO UPDATE SET handle = excluded.handle, seen_at = excluded.seen_at";

/// Whether `account` (a handle or an id) is paused, or may be: while a pause names
/// only an id Starling has never seen (its row is keyed by that id), an account
/// Starling cannot tell apart from it waits too. The outbox's insert (`lifecycle::CREATE`)
/// holds new actions by the same test.
pub async fn is_paused(store: &Store, account: &str) -> Result<bool, sqlx::Error> {
    let sql = "SELECT count(*) FROM paused_accounts p WHERE p.account = lower($1) OR p.account_id = $1 \
               OR (p.account = lower(p.account_id) AND NOT EXISTS \
                 (SELECT 1 FROM scrapely_accounts k WHERE k.handle = lower($1) OR k.account_id = $1))";
    let n: i64 =
        on_pool!(store, pool => sqlx::query_scalar(sql).bind(account).fetch_one(pool).await)?;
    Ok(n > 0)
}

/// Records the accounts `GET /accounts` listed (id, handle). A pause that named
/// only one of these ids is then keyed by its handle, and that handle's queued DMs
/// and tweets are held; actions held only because their account could not be told
/// apart from such a pause are released (one job each). Returns how many were.
pub async fn remember(store: &Store, accounts: &[(String, String)]) -> Result<usize, sqlx::Error> {
    let now = now_ms();
    // A placeholder pause (keyed by the id) takes its handle, unless that handle is
    // paused already: then the placeholder is the same pause, and goes.
    let place = "UPDATE paused_accounts SET account = lower($2) \
                 WHERE account = lower($1) AND account_id = $1 AND NOT EXISTS \
                   (SELECT 1 FROM paused_accounts q WHERE q.account = lower($2))";
    let merge = "DELETE FROM paused_accounts WHERE account = lower($1) AND account_id = $1 \
                 AND lower($1) <> lower($2)";
    Ok(in_tx!(store, tx => {
        for (id, handle) in accounts {
            let handle = handle.trim_start_matches('@');
            sqlx::query(REMEMBER).bind(id).bind(handle).bind(now).execute(&mut *tx).await?;
            let moved = sqlx::query(place).bind(id).bind(handle).execute(&mut *tx).await?;
            let merged = sqlx::query(merge).bind(id).bind(handle).execute(&mut *tx).await?;
            if moved.rows_affected() + merged.rows_affected() > 0 {
                tracing::info!(account = %handle, "A pause that named only the account id now holds @{handle}'s DMs and tweets");
                sqlx::query(super::lifecycle::HOLD_PAUSED.as_str()).bind(handle).bind(id).bind(now)
                    .execute(&mut *tx).await?;
            }
        }
        let released = sqlx::query(super::lifecycle::RELEASE_UNPAUSED.as_str()).bind(now).fetch_all(&mut *tx).await?;
        let jobs: Vec<(i64, Duration)> = released
            .iter()
            .map(|r| Ok((r.try_get(0)?, delay_until(r.try_get(1)?, now))))
            .collect::<Result<_, sqlx::Error>>()?;
        tx.push_jobs(&jobs).await?;
        jobs.len()
    }))
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
    Ok(in_tx!(store, tx => {
        let gone = sqlx::query(forget).bind(handle).fetch_optional(&mut *tx).await?;
        match gone {
            None => None,
            Some(row) => {
                let (account, id): (String, Option<String>) = (row.try_get(0)?, row.try_get(1)?);
                let released = sqlx::query(super::lifecycle::RELEASE_RESUMED.as_str()).bind(&account).bind(&id).bind(now)
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
