//! What the vendor's answers are recorded as, for every process: its
//! `X-RateLimit-*` headers in `rate_limit_vendor` ([`note`]), and a spent
//! window as `blocked_until` ([`block_until`]).

use crate::store::Store;
use crate::store::action_rows::in_tx;

/// The vendor said its window is spent: nobody calls before `until` (ms).
pub async fn block_until(store: &Store, bucket: &str, until: i64) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO rate_limits (bucket, blocked_until) VALUES ($1, $2) \
               ON CONFLICT (bucket) DO UPDATE SET blocked_until = \
                 CASE WHEN rate_limits.blocked_until > excluded.blocked_until \
                 THEN rate_limits.blocked_until ELSE excluded.blocked_until END";
    in_tx!(store, tx => sqlx::query(sql).bind(bucket).bind(until).execute(&mut *tx).await?.rows_affected());
    Ok(())
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
