//! `scrapely.schedule_tweet` — `POST /scheduled-tweets {account_id, tweet_text,
//! scheduled_at}` — and `scrapely.cancel_scheduled_tweet` — `DELETE
//! /scheduled-tweets {tweet_id}`. Scrapely posts the tweet itself at
//! `scheduled_at`, so a scheduled tweet uses no `delay:` of ours.

use super::params::{at_most, text};
use super::{Context, NotSent};
use crate::actions::outbound::{Body, Outbound};
use serde_json::{Value, json};
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

pub async fn prepare_cancel(ctx: &Context<'_>, params: &Value) -> Result<Outbound, NotSent> {
    let scrapely = ctx.scrapely()?;
    let tweet_id = text(params, "tweet_id")?;
    let mut request = scrapely.request(
        reqwest::Method::DELETE,
        "/scheduled-tweets",
        Body::Json(json!({ "tweet_id": tweet_id })),
    );
    // Idempotent: a tweet already cancelled (or gone) is what the action wanted.
    request.success = vec![200, 202, 204, 404];
    Ok(request)
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

/// Relative times are fixed when the action is created, so a retry an hour later
/// still schedules the tweet for the time the rule meant.
pub fn fix_relative_time(params: &mut Value, now: OffsetDateTime) {
    if let Some(Value::String(s)) = params.get("scheduled_at")
        && s.trim().starts_with("in ")
        && let Ok(at) = scheduled_at(s, now)
    {
        params["scheduled_at"] = crate::clock::format_utc(at).into();
    }
}
