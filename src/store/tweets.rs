//! `scheduled_tweets`: the tweets Starling scheduled in Scrapely, one per
//! `scrapely.schedule_tweet` action — from the answer, or found by
//! reconciliation after a call whose outcome nobody saw. Unique per tweet id, so
//! one scheduled tweet proves at most one action.

use super::Store;
use super::actions::{now_ms, on_pool};

/// What proved that a tweet was scheduled.
pub use super::deliveries::ProvedBy;

/// A tweet scheduled in Scrapely for an action.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledTweet {
    pub tweet_id: String,
    pub account_id: String,
    /// RFC 3339, as Scrapely has it.
    pub scheduled_at: String,
    pub proved_by: ProvedBy,
}

pub(crate) const INSERT: &str = "INSERT INTO scheduled_tweets \
    (action_id, tweet_id, account_id, scheduled_at, status, proved_by, recorded_at) \
    VALUES ($1, $2, $3, $4, 'pending', $5, $6) ON CONFLICT DO NOTHING";

/// The tweet recorded for an action, if any.
pub async fn of_action(
    store: &Store,
    action_id: i64,
) -> Result<Option<ScheduledTweet>, sqlx::Error> {
    let sql = "SELECT tweet_id, account_id, scheduled_at, proved_by FROM scheduled_tweets WHERE action_id = $1";
    let row: Option<(String, String, String, String)> = on_pool!(store, pool =>
        sqlx::query_as(sql).bind(action_id).fetch_optional(pool).await)?;
    Ok(row.map(|r| ScheduledTweet {
        tweet_id: r.0,
        account_id: r.1,
        scheduled_at: r.2,
        proved_by: if r.3 == "answer" {
            ProvedBy::Answer
        } else {
            ProvedBy::Reconciled
        },
    }))
}

/// Whether another action already owns the tweet `tweet_id`.
pub async fn is_claimed(store: &Store, tweet_id: &str) -> Result<bool, sqlx::Error> {
    let sql = "SELECT count(*) FROM scheduled_tweets WHERE tweet_id = $1";
    let n: i64 =
        on_pool!(store, pool => sqlx::query_scalar(sql).bind(tweet_id).fetch_one(pool).await)?;
    Ok(n > 0)
}

/// Claims `tweet` for `action_id`; `false` when another action owns it.
pub async fn claim(store: &Store, action_id: i64, t: &ScheduledTweet) -> Result<bool, sqlx::Error> {
    let n = on_pool!(store, pool => sqlx::query(INSERT)
        .bind(action_id).bind(&t.tweet_id).bind(&t.account_id).bind(&t.scheduled_at)
        .bind(t.proved_by.as_str()).bind(now_ms()).execute(pool).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}
