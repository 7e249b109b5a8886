//! `scrapely.send_dm` — `POST /dm/send {conversation_id, message, account_id}`.
//!
//! The one action that must never happen twice. When an earlier attempt's
//! outcome is unknown (its worker died mid-call, or the call timed out after it
//! was sent), [`reconcile`] asks `GET /conversations?conversation_id=…` whether a
//! message with this text was sent since that attempt started.

use super::params::{at_most, optional_text, text};
use super::{Context, NotSent};
use crate::actions::outbound::{Body, Outbound};
use serde_json::{Value, json};

/// Scrapely's documented limit on a DM's text.
pub const MAX_MESSAGE_CHARS: usize = 10_000;

/// Clock skew allowed between us and Scrapely when matching a sent message.
const SKEW_MS: i64 = 5_000;

pub async fn prepare(ctx: &Context<'_>, params: &Value) -> Result<Outbound, NotSent> {
    let scrapely = ctx.scrapely()?;
    let conversation_id = conversation_id(ctx, params).await?;
    let conversation_id = conversation_id.as_str();
    let message = text(params, "message")?;
    at_most("message", message, MAX_MESSAGE_CHARS)?;
    let account_id = super::account_id(ctx, params).await?;
    Ok(scrapely.request(
        reqwest::Method::POST,
        "/dm/send",
        Body::Json(json!({
            "conversation_id": conversation_id,
            "message": message,
            "account_id": account_id,
        })),
    ))
}

/// Whether this DM's text was sent in its conversation at or after `since_ms`.
pub async fn reconcile(ctx: &Context<'_>, params: &Value, since_ms: i64) -> Result<bool, NotSent> {
    let scrapely = ctx.scrapely()?;
    let conversation_id = conversation_id(ctx, params).await?;
    let message = optional_text(params, "message")?.unwrap_or_default();
    let conversation = scrapely
        .conversation(ctx.store, ctx.client, &conversation_id, ctx.timeout)
        .await
        .map_err(NotSent::from)?;
    let sent = conversation
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|m| {
            let is_sent = m
                .get("isSent")
                .or_else(|| m.get("is_sent"))
                .and_then(Value::as_bool);
            let time = m.get("time").and_then(Value::as_i64).unwrap_or(i64::MAX);
            is_sent != Some(false)
                && m.get("text").and_then(Value::as_str) == Some(message)
                && time >= since_ms - SKEW_MS
        });
    Ok(sent)
}

/// `conversation_id`, or the conversation with the receiver handle `to`. Scrapely
/// sends DMs only into existing conversations: with none, the DM is skipped with
/// that reason (retrying would not create one).
async fn conversation_id(ctx: &Context<'_>, params: &Value) -> Result<String, NotSent> {
    if let Some(id) = optional_text(params, "conversation_id")? {
        return Ok(id.to_string());
    }
    let to = optional_text(params, "to")?.ok_or_else(|| {
        NotSent::Invalid(
            "no conversation: give `conversation_id` or `to` (the receiver's handle)".into(),
        )
    })?;
    ctx.scrapely()?
        .conversation_with(ctx.store, ctx.client, to, ctx.timeout)
        .await?
        .ok_or_else(|| {
            NotSent::Skip(format!(
                "no Scrapely conversation with @{}: /dm/send needs an existing conversation",
                to.trim_start_matches('@')
            ))
        })
}
