//! `scrapely.schedule_tweet` — `POST /scheduled-tweets {account_id, tweet_text,
//! scheduled_at}` — and `scrapely.cancel_scheduled_tweet` — `DELETE
//! /scheduled-tweets {tweet_id}`. Scrapely posts the tweet itself at
//! `scheduled_at`, so a scheduled tweet uses no `delay:` of ours.
//!
//! Never two scheduled copies: after a call whose outcome nobody saw,
//! [`reconcile`] looks for the tweet (same account, text and time) in `GET
//! /scheduled-tweets` before anything is sent again, and claims it for this
//! action in `scheduled_tweets`.
//!
//! A cancel names its tweet by id, or by reference — `scheduled_by: <rule>`
//! and the `ref` that rule's `scrapely.schedule_tweet` gave it (e.g. the
//! conversation id) — resolved in `scheduled_tweets` when it runs: it waits
//! while such a tweet is still being scheduled, cancels every one of them still
//! pending, and is skipped, saying why, when there is none.

use super::params::{at_most, optional_text, text};
use super::{Context, NotSent};
use crate::actions::outbound::{Answer, Body, Outbound, Verdict};
use crate::store::tweets::{self, ProvedBy, ScheduledTweet, TweetStatus};
use serde_json::{Value, json};
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Scrapely's documented limit on a tweet's text.
pub const MAX_TWEET_CHARS: usize = 280;

pub async fn prepare(ctx: &Context<'_>, params: &Value) -> Result<Outbound, NotSent> {
    let scrapely = ctx.scrapely()?;
    let tweet_text = text(params, "tweet_text")?;
    at_most("tweet_text", tweet_text, MAX_TWEET_CHARS)?;
    let at = scheduled_at(text(params, "scheduled_at")?, OffsetDateTime::now_utc())?;
    if at <= OffsetDateTime::now_utc() {
        return Err(NotSent::Invalid(format!(
            "`scheduled_at` {} is in the past; Scrapely needs a future time",
            crate::clock::format_utc(at)
        )));
    }
    let account_id = super::account_id(ctx, params).await?;
    Ok(scrapely.request(
        reqwest::Method::POST,
        "/scheduled-tweets",
        Body::Json(json!({
            "account_id": account_id,
            "tweet_text": tweet_text,
            "scheduled_at": crate::clock::format_utc(at),
        })),
    ))
}

/// The tweet a successful `POST /scheduled-tweets` answer scheduled.
pub fn scheduled_by(answer: &Answer) -> Option<ScheduledTweet> {
    let t = answer.body.as_ref()?.get("scheduled_tweet")?;
    let text = |k: &str| t.get(k).and_then(Value::as_str).map(str::to_string);
    Some(ScheduledTweet {
        tweet_id: text("id")?,
        account_id: text("account_id").unwrap_or_default(),
        scheduled_at: text("scheduled_at").unwrap_or_default(),
        proved_by: ProvedBy::Answer,
    })
}

/// Pages of scheduled tweets read at most while reconciling (100 each).
const RECONCILE_PAGES: usize = 10;

/// Looks for this action's tweet among the account's scheduled tweets and claims
/// the first one no other action owns: `Ok(Some)` proves it was scheduled.
pub async fn reconcile(
    ctx: &Context<'_>,
    action_id: i64,
    params: &Value,
) -> Result<Option<ScheduledTweet>, NotSent> {
    let store_error = |error: sqlx::Error| {
        tracing::warn!(%error, "Cannot read scheduled tweets; reconciling later");
        NotSent::Wait(std::time::Duration::from_secs(1))
    };
    if let Some(mine) = tweets::of_action(ctx.store, action_id)
        .await
        .map_err(store_error)?
    {
        return Ok(Some(mine));
    }
    let scrapely = ctx.scrapely()?;
    let tweet_text = text(params, "tweet_text")?;
    let at = scheduled_at(text(params, "scheduled_at")?, OffsetDateTime::now_utc())?;
    let account_id = super::account_id(ctx, params).await?;
    for page in 0..RECONCILE_PAGES {
        let listed = scrapely
            .scheduled_tweets(ctx.store, ctx.client, &account_id, page * 100, ctx.timeout)
            .await
            .map_err(NotSent::from)?;
        for t in &listed {
            let same = t.get("tweet_text").and_then(Value::as_str) == Some(tweet_text)
                && t.get("scheduled_at")
                    .and_then(Value::as_str)
                    .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
                    == Some(at);
            let Some(id) = t.get("id").and_then(Value::as_str).filter(|_| same) else {
                continue;
            };
            if tweets::is_claimed(ctx.store, id)
                .await
                .map_err(store_error)?
            {
                continue;
            }
            let found = ScheduledTweet {
                tweet_id: id.to_string(),
                account_id: account_id.clone(),
                scheduled_at: t["scheduled_at"].as_str().unwrap_or_default().to_string(),
                proved_by: ProvedBy::Reconciled,
            };
            if tweets::claim(ctx.store, action_id, &found)
                .await
                .map_err(store_error)?
            {
                return Ok(Some(found));
            }
        }
        if listed.len() < 100 {
            break;
        }
    }
    Ok(None)
}

pub async fn prepare_cancel(ctx: &Context<'_>, params: &Value) -> Result<Outbound, NotSent> {
    let scrapely = ctx.scrapely()?;
    let tweet_id = match (
        optional_text(params, "tweet_id")?,
        optional_text(params, "scheduled_by")?,
    ) {
        (Some(_), Some(_)) => {
            return Err(NotSent::Invalid(
                "give `tweet_id` or `scheduled_by`, not both".into(),
            ));
        }
        (Some(id), None) => id.to_string(),
        (None, Some(rule)) => by_reference(ctx, rule, text(params, "ref")?).await?,
        (None, None) => {
            return Err(NotSent::Invalid(
                "give `tweet_id` or `scheduled_by` and `ref`".into(),
            ));
        }
    };
    Ok(cancel_request(scrapely, &tweet_id))
}

fn cancel_request(scrapely: &super::scrapely::Scrapely, tweet_id: &str) -> Outbound {
    let mut request = scrapely.request(
        reqwest::Method::DELETE,
        "/scheduled-tweets",
        Body::Json(json!({ "tweet_id": tweet_id })),
    );
    // Idempotent: a tweet already cancelled (or gone) is what the action wanted.
    request.success = vec![200, 202, 204, 404];
    request
}

/// Longest wait before a cancel looks again for a tweet still being scheduled.
const LATER_MAX: Duration = Duration::from_secs(30);

/// The tweet(s) `rule` scheduled with `ref: reference`: every one still pending
/// but the last is cancelled here (each under the budget); the last is the
/// action's own call. Waits while one is still being scheduled.
async fn by_reference(ctx: &Context<'_>, rule: &str, reference: &str) -> Result<String, NotSent> {
    let store_error = |error: sqlx::Error| {
        tracing::warn!(%error, "Cannot read scheduled tweets; cancelling later");
        NotSent::Wait(Duration::from_secs(1))
    };
    let found = tweets::scheduled_by(ctx.store, rule, reference)
        .await
        .map_err(store_error)?;
    let named = format!("rule `{rule}` with ref `{reference}`");
    let unfinished = ["pending", "running", "failed", "held"];
    if let Some(waiting) = found
        .iter()
        .filter(|r| r.tweet.is_none() && unfinished.contains(&r.action_status.as_str()))
        .max_by_key(|r| r.run_at)
    {
        let until = waiting.run_at - crate::store::actions::now_ms();
        let wait =
            Duration::from_millis(until.max(0) as u64).clamp(Duration::from_secs(1), LATER_MAX);
        return Err(NotSent::Later(
            wait,
            format!(
                "waiting for action {} ({}) of {named} to schedule its tweet",
                waiting.action_id, waiting.action_status
            ),
        ));
    }
    let mut pending: Vec<&str> = found
        .iter()
        .filter_map(|r| r.tweet.as_ref())
        .filter(|(_, status)| *status == TweetStatus::Pending)
        .map(|(id, _)| id.as_str())
        .collect();
    let Some(last) = pending.pop() else {
        let why = match found.last() {
            None => format!("no tweet scheduled by {named}: nothing to cancel"),
            Some(r) => match &r.tweet {
                Some((id, status)) => format!(
                    "the tweet {id} scheduled by {named} (action {}) is already {}: nothing to cancel",
                    r.action_id,
                    status.as_str()
                ),
                None => format!(
                    "action {} of {named} is {} and scheduled no tweet: nothing to cancel",
                    r.action_id, r.action_status
                ),
            },
        };
        return Err(NotSent::Nothing(why));
    };
    let scrapely = ctx.scrapely()?;
    for earlier in pending {
        let answer = scrapely
            .call(
                ctx.store,
                ctx.client,
                &cancel_request(scrapely, earlier),
                ctx.timeout,
            )
            .await?;
        if answer.verdict != Verdict::Success {
            return Err(NotSent::LookupFailed(Box::new(answer)));
        }
        mark_cancelled(ctx.store, earlier).await;
    }
    Ok(last.to_string())
}

/// After a successful `DELETE /scheduled-tweets`: the tweet (if Starling's) is `cancelled`.
pub async fn record_cancelled(store: &crate::store::Store, request: &Outbound) {
    if let Body::Json(body) = &request.body
        && let Some(id) = body.get("tweet_id").and_then(Value::as_str)
    {
        mark_cancelled(store, id).await;
    }
}

async fn mark_cancelled(store: &crate::store::Store, tweet_id: &str) {
    if let Err(error) =
        tweets::record_fate(store, tweet_id, TweetStatus::Cancelled, None, None).await
    {
        tracing::warn!(%error, tweet_id, "Cannot record a cancelled tweet");
    }
}

/// An ISO 8601 time, or a relative one such as `in 2h` / `in 1h 30m` from `now`.
pub fn scheduled_at(value: &str, now: OffsetDateTime) -> Result<OffsetDateTime, NotSent> {
    let value = value.trim();
    if let Some(relative) = value.strip_prefix("in ") {
        let d = humantime::parse_duration(relative.trim()).map_err(|e| {
            NotSent::Invalid(format!(
                "`scheduled_at` `{value}`: {e}; expected e.g. `in 2h` or an ISO 8601 time"
            ))
        })?;
        return Ok(now + d);
    }
    OffsetDateTime::parse(value, &Rfc3339).map_err(|_| {
        NotSent::Invalid(format!(
            "`scheduled_at` is `{value}`; expected an ISO 8601 time such as 2024-03-20T15:00:00Z, or `in 2h`"
        ))
    })
}
