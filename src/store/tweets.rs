//! `scheduled_tweets`: the tweets Starling scheduled in Scrapely, one per
//! `scrapely.schedule_tweet` action — from the answer, or found by
//! reconciliation after a call whose outcome nobody saw. Unique per tweet id, so
//! one scheduled tweet proves at most one action.
//!
//! Also each tweet's fate, a fact apart from its action's status (which stays
//! `succeeded`): `pending` until the follower (`actions::tweet_follow`) sees it
//! `posted` or `failed` in `GET /scheduled-tweets`, or a cancel makes it
//! `cancelled`. A fate is recorded only over `pending`, so two replicas
//! recording the same one change it once.

use super::Store;
use super::action_rows::{in_tx, now_ms, on_pool};

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

/// A scheduled tweet's fate, as Scrapely names it (plus `cancelled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TweetStatus {
    Pending,
    Posted,
    Failed,
    Cancelled,
}

impl TweetStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            TweetStatus::Pending => "pending",
            TweetStatus::Posted => "posted",
            TweetStatus::Failed => "failed",
            TweetStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            TweetStatus::Pending,
            TweetStatus::Posted,
            TweetStatus::Failed,
            TweetStatus::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// A tweet still `pending` here.
#[derive(Debug, Clone)]
pub struct Pending {
    pub action_id: i64,
    pub tweet_id: String,
    pub account_id: String,
    pub scheduled_at: String,
    /// The last follow-up (ms), if any.
    pub checked_at: Option<i64>,
}

/// Every tweet still `pending`.
pub async fn pending(store: &Store) -> Result<Vec<Pending>, sqlx::Error> {
    let sql = "SELECT action_id, tweet_id, account_id, scheduled_at, checked_at \
               FROM scheduled_tweets WHERE status = 'pending' ORDER BY action_id";
    let rows: Vec<(i64, String, String, String, Option<i64>)> =
        on_pool!(store, pool => sqlx::query_as(sql).fetch_all(pool).await)?;
    Ok(rows
        .into_iter()
        .map(|r| Pending {
            action_id: r.0,
            tweet_id: r.1,
            account_id: r.2,
            scheduled_at: r.3,
            checked_at: r.4,
        })
        .collect())
}

/// Claims the follow-up of `tweet_ids` for this process at `now`: the ones
/// still pending that nobody checked after `not_since` (ms). Another replica
/// claiming at the same moment gets none of them.
pub async fn claim_check(
    store: &Store,
    tweet_ids: &[String],
    now: i64,
    not_since: i64,
) -> Result<Vec<String>, sqlx::Error> {
    let sql = "UPDATE scheduled_tweets SET checked_at = $2 WHERE tweet_id = $1 AND status = 'pending' \
               AND (checked_at IS NULL OR checked_at <= $3)";
    let mut claimed = Vec::new();
    in_tx!(store, tx => for id in tweet_ids {
        let n = sqlx::query(sql).bind(id).bind(now).bind(not_since).execute(&mut *tx).await?.rows_affected();
        if n == 1 {
            claimed.push(id.clone());
        }
    });
    Ok(claimed)
}

/// Records a pending tweet's fate; `false` when it was not pending any more
/// (another replica, or a cancel, recorded it first).
pub async fn record_fate(
    store: &Store,
    tweet_id: &str,
    status: TweetStatus,
    error_message: Option<&str>,
    posted_at: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let sql = "UPDATE scheduled_tweets SET status = $2, error_message = $3, posted_at = $4 \
               WHERE tweet_id = $1 AND status = 'pending'";
    let n = on_pool!(store, pool => sqlx::query(sql).bind(tweet_id).bind(status.as_str())
        .bind(error_message).bind(posted_at).execute(pool).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// A `scrapely.schedule_tweet` action of a rule with a given `ref`, and its tweet once scheduled.
#[derive(Debug, Clone)]
pub struct Referenced {
    pub action_id: i64,
    pub action_status: String,
    pub run_at: i64,
    /// (tweet id, its fate), once the action scheduled it.
    pub tweet: Option<(String, TweetStatus)>,
}

/// The tweets `rule` scheduled with `ref: reference`, oldest first.
pub async fn scheduled_by(
    store: &Store,
    rule: &str,
    reference: &str,
) -> Result<Vec<Referenced>, sqlx::Error> {
    let sql = "SELECT a.id, a.status, a.run_at, a.params, st.tweet_id, st.status \
               FROM actions a LEFT JOIN scheduled_tweets st ON st.action_id = a.id \
               WHERE a.rule = $1 AND a.kind = 'scrapely.schedule_tweet' ORDER BY a.id";
    type Row = (i64, String, i64, String, Option<String>, Option<String>);
    let rows: Vec<Row> =
        on_pool!(store, pool => sqlx::query_as(sql).bind(rule).fetch_all(pool).await)?;
    Ok(rows
        .into_iter()
        .filter(|r| {
            serde_json::from_str::<serde_json::Value>(&r.3)
                .is_ok_and(|p| p.get("ref").and_then(|v| v.as_str()) == Some(reference))
        })
        .map(|r| Referenced {
            action_id: r.0,
            action_status: r.1,
            run_at: r.2,
            tweet: r.4.map(|id| {
                let status = r.5.as_deref().and_then(TweetStatus::parse);
                (id, status.unwrap_or(TweetStatus::Pending))
            }),
        })
        .collect())
}
