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

use super::Store;
use super::action_rows::in_tx;
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

const ENSURE: &str = "INSERT INTO rate_limits (bucket) VALUES ($1) ON CONFLICT (bucket) DO NOTHING";
/// The bucket's row (locked on PostgreSQL) with what the vendor said of it.
const LOCK: &str = "SELECT r.blocked_until, v.vendor_limit, v.remaining, v.remaining_at, v.reset_at, v.heard_at \
    FROM rate_limits r LEFT JOIN rate_limit_vendor v ON v.bucket = r.bucket WHERE r.bucket = $1";
const PRUNE: &str = "DELETE FROM rate_limit_calls WHERE bucket = $1 AND at <= $2";
/// The window's calls (`at > $3`, so the count is the same whether or not the
/// older ones are pruned yet) and how many came after the vendor's `remaining` (`$2`).
const COUNT: &str = "SELECT count(*), min(at), max(at), \
    COALESCE(SUM(CASE WHEN at > $2 THEN 1 ELSE 0 END), 0) FROM rate_limit_calls WHERE bucket = $1 AND at > $3";
/// `$3` slots at `$2`, in one statement on both backends.
const TAKE: &str = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $3) \
    INSERT INTO rate_limit_calls (bucket, at) SELECT $1, $2 FROM n";

/// A bucket as one check sees it, its row locked.
#[derive(Debug, Clone, Copy, Default)]
pub struct Seen {
    pub blocked_until: i64,
    pub vendor: Vendor,
    pub calls: Calls,
    /// The oldest call in the window (ms).
    pub oldest: Option<i64>,
}

/// How many of `wanted` calls may go at `now` (at least one), or how long until
/// one may: the vendor's block, the sliding log's room, then [`pace`] for each
/// further call as if the ones before it were just taken — so a window with few
/// calls left still grants them one at a time.
pub fn grant(seen: &Seen, budget: Budget, wanted: u32, now: i64) -> Result<u32, Duration> {
    let window = (budget.window + MARGIN).as_millis() as i64;
    if seen.blocked_until > now {
        return Err(Duration::from_millis((seen.blocked_until - now) as u64));
    }
    let limit = seen.vendor.limit.unwrap_or(budget.limit);
    let mut calls = seen.calls;
    let mut granted = 0;
    while granted < wanted {
        if calls.used >= i64::from(limit) {
            let free_at = seen.oldest.unwrap_or(now) + window;
            return first(
                granted,
                Duration::from_millis((free_at - now).max(1) as u64),
            );
        }
        if let Some(wait) = pace(&seen.vendor, limit, calls, now) {
            return first(granted, wait);
        }
        granted += 1;
        calls = Calls {
            used: calls.used + 1,
            since: calls.since + 1,
            last: Some(now),
        };
    }
    Ok(granted)
}

/// What was granted, or the wait when nothing was.
fn first(granted: u32, wait: Duration) -> Result<u32, Duration> {
    if granted == 0 { Err(wait) } else { Ok(granted) }
}

/// The bucket's row and what the vendor said (the vendor's columns NULL until it answers).
type LockRow = (
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

// One impl per backend: PostgreSQL locks the bucket's row (`FOR UPDATE OF r`) and
// prunes in the counting statement (a data-modifying CTE, 3 statements a group
// in all); SQLite's single writer needs no lock, and it prunes on its own (no
// DML in a CTE), both in process.
macro_rules! rate_conn {
    ($conn:ty, $lock_suffix:expr, $count:expr, $prune_alone:expr) => {
        impl RateConn for $conn {
            async fn acquire_many_on(
                &mut self,
                bucket: &str,
                budget: Budget,
                wanted: u32,
                now: i64,
            ) -> Result<Result<u32, Duration>, sqlx::Error> {
                let window = (budget.window + MARGIN).as_millis() as i64;
                // The bucket's row, made the first time it is used.
                let lock = format!("{LOCK}{}", $lock_suffix);
                let mut row: Option<LockRow> = sqlx::query_as(sqlx::AssertSqlSafe(lock.clone()))
                    .bind(bucket)
                    .fetch_optional(&mut *self)
                    .await?;
                if row.is_none() {
                    sqlx::query(ENSURE).bind(bucket).execute(&mut *self).await?;
                    row = sqlx::query_as(sqlx::AssertSqlSafe(lock))
                        .bind(bucket)
                        .fetch_optional(&mut *self)
                        .await?;
                }
                let (blocked_until, v0, v1, v2, v3, v4) = row.unwrap_or_default();
                if blocked_until > now {
                    return Ok(Err(Duration::from_millis((blocked_until - now) as u64)));
                }
                let vendor = Vendor::from((v0, v1, v2, v3, v4));
                let cutoff = now - window;
                let since_remaining = vendor.remaining_at.unwrap_or(i64::MAX);
                let (used, oldest, last, since): (i64, Option<i64>, Option<i64>, i64) =
                    sqlx::query_as($count)
                        .bind(bucket)
                        .bind(since_remaining)
                        .bind(cutoff)
                        .fetch_one(&mut *self)
                        .await?;
                if $prune_alone {
                    sqlx::query(PRUNE)
                        .bind(bucket)
                        .bind(cutoff)
                        .execute(&mut *self)
                        .await?;
                }
                let seen = Seen {
                    blocked_until,
                    vendor,
                    calls: Calls { used, since, last },
                    oldest,
                };
                let granted = match grant(&seen, budget, wanted, now) {
                    Ok(granted) => granted,
                    Err(wait) => return Ok(Err(wait)),
                };
                sqlx::query(TAKE)
                    .bind(bucket)
                    .bind(now)
                    .bind(i64::from(granted))
                    .execute(&mut *self)
                    .await?;
                Ok(Ok(granted))
            }
        }
    };
}
rate_conn!(sqlx::SqliteConnection, "", COUNT, true);
rate_conn!(
    sqlx::PgConnection,
    " FOR UPDATE OF r",
    "WITH pruned AS (DELETE FROM rate_limit_calls WHERE bucket = $1 AND at <= $3) \
     SELECT count(*), min(at), max(at), COALESCE(SUM(CASE WHEN at > $2 THEN 1 ELSE 0 END), 0) \
     FROM rate_limit_calls WHERE bucket = $1 AND at > $3",
    false
);

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

/// The vendor said its window is spent: nobody calls before `until` (ms).
pub async fn block_until(store: &Store, bucket: &str, until: i64) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO rate_limits (bucket, blocked_until) VALUES ($1, $2) \
               ON CONFLICT (bucket) DO UPDATE SET blocked_until = \
                 CASE WHEN rate_limits.blocked_until > excluded.blocked_until \
                 THEN rate_limits.blocked_until ELSE excluded.blocked_until END";
    in_tx!(store, tx => sqlx::query(sql).bind(bucket).bind(until).execute(&mut *tx).await?.rows_affected());
    Ok(())
}

type VendorRow = (
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

/// What the vendor said about a bucket, as `rate_limit_vendor` keeps it (times in ms).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Vendor {
    /// `X-RateLimit-Limit`: the budget once known.
    pub limit: Option<u32>,
    /// `X-RateLimit-Remaining` of the latest answer, recorded at `remaining_at`.
    pub remaining: Option<u32>,
    pub remaining_at: Option<i64>,
    /// `X-RateLimit-Reset` of that answer.
    pub reset_at: Option<i64>,
    /// The first answer of any kind: `None` until the vendor has answered once.
    pub heard_at: Option<i64>,
}

impl From<VendorRow> for Vendor {
    fn from(r: VendorRow) -> Self {
        let count = |v: Option<i64>| v.and_then(|v| u32::try_from(v).ok());
        Self {
            limit: count(r.0).filter(|l| *l > 0),
            remaining: count(r.1),
            remaining_at: r.2,
            reset_at: r.3,
            heard_at: r.4,
        }
    }
}

/// The bucket's calls in the sliding log, as the check sees them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Calls {
    /// Calls in the window.
    pub used: i64,
    /// Calls taken after the vendor's latest `remaining` (not in its count).
    pub since: i64,
    /// The latest call (ms).
    pub last: Option<i64>,
}

/// Before the vendor's first answer, one call at a time: at most one per this.
pub const FIRST_ANSWER_WAIT: Duration = Duration::from_secs(1);
/// How often a call waiting for the vendor's first answer looks again.
const PROBE_POLL: Duration = Duration::from_millis(50);

/// Whether `left` calls are "few" for a window of `limit`: under a quarter left.
pub fn is_low(left: u32, limit: u32) -> bool {
    u64::from(left) * 4 < u64::from(limit)
}

/// How long the next call must wait beyond the sliding log, or `None` to go now.
///
/// What the vendor says remains until its reset (less the calls taken since it
/// said so) caps the calls: none left, nobody calls before the reset. When it is
/// less than the sliding log would allow (another client of the key, or a
/// window the vendor counts differently) and low — under a quarter of the limit
/// — the calls are spread evenly over the time to the reset: the next goes
/// `(reset − last) / left` after the last one, so the last remaining call lands
/// at the reset instead of bursting into 429s.
pub fn pace(v: &Vendor, limit: u32, calls: Calls, now: i64) -> Option<Duration> {
    let ms = |d: i64| Duration::from_millis(d.max(1) as u64);
    if v.heard_at.is_none() {
        // The first call's answer tells the limit; until then nobody bursts.
        return calls
            .last
            .filter(|l| now - l < FIRST_ANSWER_WAIT.as_millis() as i64)
            .map(|_| PROBE_POLL);
    }
    let (remaining, reset) = (v.remaining?, v.reset_at?);
    if reset <= now {
        return None; // a new window: what was said about the old one is stale
    }
    let left = i64::from(remaining) - calls.since.max(0);
    if left <= 0 {
        return Some(ms(reset - now));
    }
    let log_left = i64::from(limit) - calls.used;
    if left >= log_left || !is_low(left as u32, limit) {
        return None;
    }
    let last = calls.last?;
    let next = last + (reset - last) / left;
    (next > now).then(|| ms(next - now))
}

/// Records what an answer's `X-RateLimit-*` headers said, for every process.
/// Returns the vendor's limit when this answer changed it (logged by the caller).
pub async fn note(
    store: &Store,
    bucket: &str,
    rate: crate::http_client::RateHeaders,
    now: i64,
) -> Result<Option<u32>, sqlx::Error> {
    let heard = "INSERT INTO rate_limit_vendor (bucket, heard_at) VALUES ($1, $2) \
                 ON CONFLICT (bucket) DO NOTHING";
    let window = "UPDATE rate_limit_vendor SET remaining = $2, remaining_at = $3, reset_at = $4 \
                  WHERE bucket = $1 AND (remaining_at IS NULL OR remaining_at <= $3)";
    let limit = "UPDATE rate_limit_vendor SET vendor_limit = $2 \
                 WHERE bucket = $1 AND (vendor_limit IS NULL OR vendor_limit <> $2)";
    let changed = in_tx!(store, tx => {
        sqlx::query(heard).bind(bucket).bind(now).execute(&mut *tx).await?;
        if let (Some(remaining), Some(reset)) = (rate.remaining, rate.reset_ms) {
            sqlx::query(window).bind(bucket).bind(i64::from(remaining)).bind(now).bind(reset)
                .execute(&mut *tx).await?;
        }
        match rate.limit {
            Some(l) => sqlx::query(limit).bind(bucket).bind(i64::from(l)).execute(&mut *tx).await?
                .rows_affected() == 1,
            None => false,
        }
    });
    Ok(rate.limit.filter(|_| changed))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000;

    fn heard(remaining: u32, reset_in: i64) -> Vendor {
        Vendor {
            remaining: Some(remaining),
            remaining_at: Some(NOW),
            reset_at: Some(NOW + reset_in),
            heard_at: Some(NOW),
            ..Vendor::default()
        }
    }

    fn calls(used: i64, since: i64, last: i64) -> Calls {
        Calls {
            used,
            since,
            last: Some(last),
        }
    }

    #[test]
    fn plenty_left_goes_at_once() {
        assert_eq!(pace(&heard(45, 30_000), 60, calls(1, 0, NOW), NOW), None);
    }

    #[test]
    fn few_left_are_spread_until_the_reset() {
        // 4 of 60 left (the log thinks 59), 8 s to the reset: one every 2 s after the last call.
        let v = heard(4, 8_000);
        assert_eq!(
            pace(&v, 60, calls(1, 0, NOW), NOW),
            Some(Duration::from_secs(2))
        );
        assert_eq!(pace(&v, 60, calls(1, 0, NOW), NOW + 2_000), None);
        // One call taken since the answer: 3 left over the 8 s from the last call.
        assert_eq!(
            pace(&v, 60, calls(2, 1, NOW + 500), NOW + 500),
            Some(Duration::from_millis(2500))
        );
    }

    #[test]
    fn few_left_that_the_log_already_counts_are_not_spread() {
        // The log has 56 of 60 in the window: it stops at the 60th by itself.
        assert_eq!(pace(&heard(4, 8_000), 60, calls(56, 0, NOW), NOW), None);
    }

    #[test]
    fn nothing_left_waits_for_the_reset_and_a_past_reset_is_stale() {
        let v = heard(2, 5_000);
        let c = calls(3, 2, NOW);
        assert_eq!(pace(&v, 60, c, NOW + 1_000), Some(Duration::from_secs(4)));
        assert_eq!(pace(&v, 60, c, NOW + 5_000), None);
    }

    #[test]
    fn low_is_under_a_quarter_of_the_limit() {
        assert!(is_low(14, 60) && !is_low(15, 60));
        assert!(is_low(2, 10) && !is_low(3, 10));
        assert!(!is_low(1, 4) && is_low(0, 4));
    }

    fn seen(vendor: Vendor, used: i64) -> Seen {
        Seen {
            vendor,
            calls: calls(used, 0, NOW - 5_000),
            oldest: Some(NOW - 500),
            ..Seen::default()
        }
    }

    const BUDGET: Budget = Budget {
        limit: 60,
        window: Duration::from_secs(60),
    };

    #[test]
    fn a_batch_gets_what_the_log_has_room_for() {
        let plenty = heard(50, 30_000);
        assert_eq!(grant(&seen(plenty, 10), BUDGET, 5, NOW), Ok(5));
        assert_eq!(grant(&seen(plenty, 57), BUDGET, 5, NOW), Ok(3));
        let full = grant(&seen(plenty, 60), BUDGET, 5, NOW);
        assert_eq!(full, Err(Duration::from_millis(60_250 - 500)));
    }

    #[test]
    fn a_batch_in_a_window_with_few_left_gets_one() {
        // 4 of 60 left per the vendor: spread, so one now and the rest later.
        assert_eq!(grant(&seen(heard(4, 8_000), 1), BUDGET, 3, NOW), Ok(1));
        // Before the vendor's first answer, one call at a time.
        assert_eq!(grant(&seen(Vendor::default(), 0), BUDGET, 3, NOW), Ok(1));
        let blocked = Seen {
            blocked_until: NOW + 700,
            ..seen(heard(50, 30_000), 0)
        };
        assert_eq!(
            grant(&blocked, BUDGET, 3, NOW),
            Err(Duration::from_millis(700))
        );
    }

    #[test]
    fn before_the_first_answer_one_call_at_a_time() {
        let unheard = Vendor::default();
        assert_eq!(pace(&unheard, 60, Calls::default(), NOW), None);
        assert_eq!(
            pace(&unheard, 60, calls(1, 0, NOW - 10), NOW),
            Some(PROBE_POLL)
        );
        assert_eq!(pace(&unheard, 60, calls(1, 0, NOW - 1_000), NOW), None);
    }
}
