//! The outbound call budget, kept in SQL so every worker of every process sharing
//! the database draws from one budget.
//!
//! A sliding log: each call is a row `(bucket, at)`; a call may go when fewer than
//! `limit` rows are younger than the window. The bucket's row in `rate_limits` is
//! locked for the check (PostgreSQL `FOR UPDATE`; SQLite's single writer), so two
//! processes never both take the last slot. When the vendor says the window is
//! spent (429, `X-RateLimit-Remaining: 0`), `blocked_until` stops everyone until
//! the reset.
//!
//! `rate_limit_vendor` keeps what the vendor's headers said ([`note`]): its
//! `X-RateLimit-Limit` replaces the configured limit once known, and its
//! `X-RateLimit-Remaining` caps the calls until `X-RateLimit-Reset` — spaced
//! evenly when it is low and lower than the log expects ([`pace`]) instead of
//! spent in a burst. Until the vendor has
//! answered once, calls go one at a time (its limit may be lower than ours).
//!
//! This file holds the budget and the entry points; `grant` is the arithmetic
//! (how many slots a check may take, [`pace`]), `backends` the SQL per backend
//! that locks a bucket, counts its log and takes the slots, and `vendor_notes`
//! what the vendor's answers are recorded as ([`note`], [`block_until`]).

mod backends;
mod grant;
mod vendor_notes;

use super::Store;
use super::action_rows::in_tx;
pub use grant::{Calls, FIRST_ANSWER_WAIT, Seen, Vendor, grant, is_low, pace};
use std::time::Duration;
pub use vendor_notes::{block_until, note};

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
    ) -> Result<Option<Duration>, sqlx::Error> {
        Ok(self.acquire_many_on(bucket, budget, 1, now).await?.err())
    }

    /// Takes up to `wanted` slots at once (one lock, one read of the log, one
    /// insert — a group of events claims its calls' budget in a single pass):
    /// how many were granted, or how long to wait when none was.
    async fn acquire_many_on(
        &mut self,
        bucket: &str,
        budget: Budget,
        wanted: u32,
        now: i64,
    ) -> Result<Result<u32, Duration>, sqlx::Error>;
}

/// A call that waited after taking its slot (a lookup, a long commit, a busy
/// machine) is counted from when it is sent: its slot taken at `from` is moved
/// to `to`, so it does not leave the log before the vendor's window forgets it.
pub async fn restamp(store: &Store, bucket: &str, from: i64, to: i64) -> Result<(), sqlx::Error> {
    let sql = "UPDATE rate_limit_calls SET at = $3 WHERE bucket = $1 AND at = $2";
    in_tx!(store, tx => sqlx::query(sql).bind(bucket).bind(from).bind(to).execute(&mut *tx).await?.rows_affected());
    Ok(())
}

/// Longest wait between taking a slot and sending the call that is not restamped.
pub const SEND_LATE: Duration = Duration::from_millis(100);
