//! The follower of scheduled tweets, started by `starling serve`: Scrapely
//! posts a scheduled tweet itself, so Starling asks afterwards what became of
//! it and records `posted` or `failed` (with Scrapely's `error_message`) in
//! `scheduled_tweets` — the action's own status stays `succeeded`.
//!
//! It calls Scrapely only for tweets whose time has passed and that are still
//! `pending` here, once per `scrapely.tweet_check_secs` at most, per account
//! (`GET /scheduled-tweets?account_id=…`, paged), under the shared rate-limit
//! budget. Each check is claimed in the database (`checked_at`), so replicas
//! never look up the same tweet twice at once, and a fate is recorded only over
//! `pending` (idempotent).

use super::executor::Executor;
use super::scrapely::Lookup;
use crate::store::actions::now_ms;
use crate::store::tweets::{self, TweetStatus};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio_util::sync::CancellationToken;

/// Pages of 100 read at most per account and check.
const PAGES: usize = 10;

/// What a tweet no longer listed at all is recorded with.
pub const NOT_LISTED: &str =
    "no longer listed by GET /scheduled-tweets: cancelled or deleted outside Starling";

/// Checks due tweets every `every` until `stop`.
pub async fn run(executor: Arc<Executor>, every: Duration, stop: CancellationToken) {
    if executor.scrapely.is_none() {
        return;
    }
    loop {
        let wait = match check(&executor, every).await {
            Ok(()) => every,
            Err(FollowError::Budget(wait)) => wait.max(Duration::from_secs(1)),
            Err(FollowError::Store(error)) => {
                tracing::warn!(%error, "Cannot read scheduled tweets; following up later");
                every
            }
        };
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

enum FollowError {
    /// The shared budget is spent for this long.
    Budget(Duration),
    Store(sqlx::Error),
}

impl From<sqlx::Error> for FollowError {
    fn from(error: sqlx::Error) -> Self {
        FollowError::Store(error)
    }
}

/// One round: the due, unclaimed pending tweets, grouped by account.
async fn check(executor: &Executor, every: Duration) -> Result<(), FollowError> {
    let now = now_ms();
    // Checked at least `every` ago (less a little slack, so a round does not miss by a tick).
    let not_since = now - every.as_millis() as i64 + 100;
    let mut due: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for t in tweets::pending(&executor.store).await? {
        if is_due(&t.scheduled_at, OffsetDateTime::now_utc())
            && t.checked_at.is_none_or(|at| at <= not_since)
        {
            due.entry(t.account_id).or_default().push(t.tweet_id);
        }
    }
    for (account_id, ids) in due {
        let claimed = tweets::claim_check(&executor.store, &ids, now, not_since).await?;
        if !claimed.is_empty() {
            follow_account(executor, &account_id, claimed).await?;
        }
    }
    Ok(())
}

/// Whether a tweet's time (RFC 3339, as Scrapely has it) has passed; an
/// unreadable time counts as passed, so the tweet is not forgotten.
pub fn is_due(scheduled_at: &str, now: OffsetDateTime) -> bool {
    OffsetDateTime::parse(scheduled_at, &Rfc3339).map_or(true, |at| at <= now)
}

/// Pages through the account's scheduled tweets until each wanted one is found.
async fn follow_account(
    executor: &Executor,
    account_id: &str,
    wanted: Vec<String>,
) -> Result<(), FollowError> {
    let ctx = executor.context();
    let Some(scrapely) = ctx.scrapely else {
        return Ok(());
    };
    let mut wanted: HashSet<String> = wanted.into_iter().collect();
    let mut complete = false;
    for page in 0..PAGES {
        let listed = match scrapely
            .scheduled_tweets(ctx.store, ctx.client, account_id, page * 100, ctx.timeout)
            .await
        {
            Ok(listed) => listed,
            Err(Lookup::Wait(wait)) => return Err(FollowError::Budget(wait)),
            Err(Lookup::Failed(answer)) => {
                tracing::warn!(
                    account_id,
                    error = answer.error.as_deref().unwrap_or(""),
                    "Cannot list scheduled tweets; following up later"
                );
                return Ok(());
            }
        };
        for t in &listed {
            let Some(id) = t.get("id").and_then(Value::as_str) else {
                continue;
            };
            if wanted.remove(id) {
                record(executor, id, t).await?;
            }
        }
        complete = listed.len() < 100;
        if wanted.is_empty() || complete {
            break;
        }
    }
    if complete {
        for id in wanted {
            let gone = TweetStatus::Cancelled;
            if tweets::record_fate(ctx.store, &id, gone, Some(NOT_LISTED), None).await? {
                tracing::warn!(tweet_id = %id, "A scheduled tweet is gone from Scrapely's list");
            }
        }
    }
    Ok(())
}

/// Records what Scrapely lists for one of Starling's tweets, if it is final.
async fn record(executor: &Executor, id: &str, listed: &Value) -> Result<(), FollowError> {
    let text = |k: &str| listed.get(k).and_then(Value::as_str);
    let Some(status) = text("status").and_then(TweetStatus::parse) else {
        tracing::warn!(tweet_id = %id, status = ?listed.get("status"), "Scrapely lists a tweet with an unknown status");
        return Ok(());
    };
    if status == TweetStatus::Pending {
        return Ok(()); // not posted yet: asked again next round
    }
    let error = text("error_message");
    if tweets::record_fate(&executor.store, id, status, error, text("posted_at")).await? {
        match status {
            TweetStatus::Failed => tracing::warn!(tweet_id = %id, error = error.unwrap_or(""),
                "Scrapely failed to post a scheduled tweet"),
            _ => {
                tracing::info!(tweet_id = %id, status = status.as_str(), "A scheduled tweet's fate is known")
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_tweet_is_due_once_its_time_has_passed() {
        let now = datetime!(2024-03-20 15:00:00 UTC);
        assert!(is_due("2024-03-20T15:00:00.000Z", now));
        assert!(is_due("2024-03-20T14:59:59Z", now));
        assert!(!is_due("2024-03-20T15:00:01Z", now));
        assert!(is_due("not a time", now), "never forgotten");
    }
}
