//! [`RateConn`] for each backend: the SQL that makes and locks a bucket's row,
//! counts (and prunes) its sliding log, and takes the slots [`grant`] allows.

use super::grant::{Calls, Seen, Vendor, grant};
use super::{Budget, MARGIN, RateConn};
use std::time::Duration;

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
