//! The outbound call budget, kept in SQL so every worker of every process sharing
//! the database draws from one budget.
//!
//! A sliding log: each call is a row `(bucket, at)`; a call may go when fewer than
//! `limit` rows are younger than the window. The bucket's row in `rate_limits` is
//! locked for the check (PostgreSQL `FOR UPDATE`; SQLite's single writer), so two
//! processes never both take the last slot. When the vendor says the window is
//! spent (429, `X-RateLimit-Remaining: 0`), `blocked_until` stops everyone until
//! the reset.

use super::Store;
use super::actions::in_tx;
use std::time::Duration;

/// A bucket's limit: `limit` calls per `window`, plus a margin so calls that
/// arrive a little late at the vendor never land in its next window twice.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub limit: u32,
    pub window: Duration,
}

/// Loopback and network jitter between taking a slot and the vendor counting it.
const MARGIN: Duration = Duration::from_millis(250);

/// Takes one call from the bucket's budget: `Ok(None)` to go now, or how long to
/// wait before asking again.
pub async fn acquire(
    store: &Store,
    bucket: &str,
    budget: Budget,
    now: i64,
) -> Result<Option<Duration>, sqlx::Error> {
    Ok(in_tx!(store, tx => tx.acquire_on(bucket, budget, now).await?))
}

/// [`acquire`] inside the caller's transaction (so a call's budget and its
/// attempt row are one commit).
pub(crate) trait RateConn {
    async fn acquire_on(
        &mut self,
        bucket: &str,
        budget: Budget,
        now: i64,
    ) -> Result<Option<Duration>, sqlx::Error>;
}

const ENSURE: &str = "INSERT INTO rate_limits (bucket) VALUES ($1) ON CONFLICT (bucket) DO NOTHING";
const PRUNE: &str = "DELETE FROM rate_limit_calls WHERE bucket = $1 AND at <= $2";
const COUNT: &str = "SELECT count(*), min(at) FROM rate_limit_calls WHERE bucket = $1";
const TAKE: &str = "INSERT INTO rate_limit_calls (bucket, at) VALUES ($1, $2)";

macro_rules! rate_conn {
    ($conn:ty, $lock:expr) => {
        impl RateConn for $conn {
            async fn acquire_on(
                &mut self,
                bucket: &str,
                budget: Budget,
                now: i64,
            ) -> Result<Option<Duration>, sqlx::Error> {
                let window = (budget.window + MARGIN).as_millis() as i64;
                sqlx::query(ENSURE).bind(bucket).execute(&mut *self).await?;
                let blocked_until: i64 = sqlx::query_scalar($lock)
                    .bind(bucket)
                    .fetch_one(&mut *self)
                    .await?;
                if blocked_until > now {
                    return Ok(Some(Duration::from_millis((blocked_until - now) as u64)));
                }
                sqlx::query(PRUNE)
                    .bind(bucket)
                    .bind(now - window)
                    .execute(&mut *self)
                    .await?;
                let (used, oldest): (i64, Option<i64>) = sqlx::query_as(COUNT)
                    .bind(bucket)
                    .fetch_one(&mut *self)
                    .await?;
                if used >= i64::from(budget.limit) {
                    let free_at = oldest.unwrap_or(now) + window;
                    return Ok(Some(Duration::from_millis((free_at - now).max(1) as u64)));
                }
                sqlx::query(TAKE)
                    .bind(bucket)
                    .bind(now)
                    .execute(&mut *self)
                    .await?;
                Ok(None)
            }
        }
    };
}
rate_conn!(
    sqlx::SqliteConnection,
    "SELECT blocked_until FROM rate_limits WHERE bucket = $1"
);
rate_conn!(
    sqlx::PgConnection,
    "SELECT blocked_until FROM rate_limits WHERE bucket = $1 FOR UPDATE"
);

/// The vendor said its window is spent: nobody calls before `until` (ms).
pub async fn block_until(store: &Store, bucket: &str, until: i64) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO rate_limits (bucket, blocked_until) VALUES ($1, $2) \
               ON CONFLICT (bucket) DO UPDATE SET blocked_until = \
                 CASE WHEN rate_limits.blocked_until > excluded.blocked_until \
                 THEN rate_limits.blocked_until ELSE excluded.blocked_until END";
    in_tx!(store, tx => sqlx::query(sql).bind(bucket).bind(until).execute(&mut *tx).await?.rows_affected());
    Ok(())
}
