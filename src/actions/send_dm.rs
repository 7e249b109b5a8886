//! `scrapely.send_dm` — `POST /dm/send {conversation_id, message, account_id}`.
//!
//! The one action that must never happen twice, and never be recorded as sent
//! when it was not. Any earlier attempt that may have reached Scrapely (a crash
//! mid-call, a timeout, a reset after the request was written, any 5xx) is
//! reconciled before a resend: [`reconcile`] reads the conversation and claims
//! one delivered message with this text for this action. A message proves at
//! most one action (`dm_deliveries` is unique per conversation and message), so
//! two identical DMs of which one got through are never both "sent".

use super::params::{at_most, optional_text, text};
use super::scrapely::Account;
use super::{Context, NotSent};
use crate::actions::outbound::{Answer, Body, Outbound};
use crate::store::deliveries::{self, Delivery, ProvedBy, Rival};
use serde_json::{Value, json};

/// Scrapely's documented limit on a DM's text.
pub const MAX_MESSAGE_CHARS: usize = 10_000;

/// Clock skew allowed between us and Scrapely when matching a sent message.
const SKEW_MS: i64 = 5_000;

pub async fn prepare(ctx: &Context<'_>, params: &Value) -> Result<Outbound, NotSent> {
    let scrapely = ctx.scrapely()?;
    let message = text(params, "message")?;
    at_most("message", message, MAX_MESSAGE_CHARS)?;
    let account = super::account(ctx, params).await?;
    let conversation_id = conversation_id(ctx, params, &account).await?;
    Ok(scrapely.request(
        reqwest::Method::POST,
        "/dm/send",
        Body::Json(json!({
            "conversation_id": conversation_id,
            "message": message,
            "account_id": account.id,
        })),
    ))
}

/// The delivery a successful `/dm/send` answer proves, for `dm_deliveries`.
pub fn delivery_of(
    action_id: i64,
    request: &Outbound,
    answer: &Answer,
    now: i64,
) -> Option<Delivery> {
    let crate::actions::outbound::Body::Json(body) = &request.body else {
        return None;
    };
    let conversation_id = body.get("conversation_id")?.as_str()?.to_string();
    let message = body.get("message")?.as_str()?;
    let message_id = answer
        .body
        .as_ref()
        .and_then(|b| b.get("message_id"))
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty());
    let latency = answer.latency.as_millis() as i64;
    Some(Delivery {
        conversation_id,
        message_key: match message_id {
            Some(id) => format!("id:{id}"),
            None => format!("answer:{action_id}"),
        },
        text_hash: deliveries::text_hash(message),
        proved_by: ProvedBy::Answer,
        sent_after: now - latency - SKEW_MS,
        sent_before: now,
        message_time: None,
    })
}

/// Looks in the conversation for a message with this DM's text sent at or after
/// `since_ms` that no other action has claimed, and claims it for `action_id`.
/// `Ok(Some)` is the delivery that proves the DM was sent.
pub async fn reconcile(
    ctx: &Context<'_>,
    action_id: i64,
    params: &Value,
    since_ms: i64,
) -> Result<Option<Delivery>, NotSent> {
    if let Some(mine) = deliveries::of_action(ctx.store, action_id)
        .await
        .map_err(store_wait)?
    {
        return Ok(Some(mine));
    }
    let scrapely = ctx.scrapely()?;
    let account = super::account(ctx, params).await?;
    let conversation_id = conversation_id(ctx, params, &account).await?;
    let message = optional_text(params, "message")?.unwrap_or_default();
    let text_hash = deliveries::text_hash(message);
    let conversation = scrapely
        .conversation(ctx.store, ctx.client, &conversation_id, ctx.timeout)
        .await
        .map_err(NotSent::from)?;
    let sent = sent_messages(&conversation, message, &text_hash);
    // Another replica may claim the same message between our read and our write.
    for _ in 0..3 {
        let claims = deliveries::of_conversation(ctx.store, &conversation_id)
            .await
            .map_err(store_wait)?;
        let rivals = deliveries::older_rivals(ctx.store, action_id, &conversation_id, &text_hash)
            .await
            .map_err(store_wait)?;
        let Some(found) = pick(&sent, &claims, &text_hash, &rivals, since_ms) else {
            return Ok(None);
        };
        let delivery = Delivery {
            conversation_id: conversation_id.clone(),
            message_key: found.key.clone(),
            text_hash: text_hash.clone(),
            proved_by: ProvedBy::Reconciled,
            sent_after: since_ms,
            sent_before: crate::store::actions::now_ms(),
            message_time: Some(found.time),
        };
        if deliveries::claim(ctx.store, action_id, &delivery)
            .await
            .map_err(store_wait)?
        {
            return Ok(Some(delivery));
        }
    }
    Ok(None)
}

fn store_wait(error: sqlx::Error) -> NotSent {
    tracing::warn!(%error, "Cannot read DM deliveries; reconciling later");
    NotSent::Wait(std::time::Duration::from_secs(1))
}

/// A message of ours in the conversation with the DM's text.
#[derive(Debug, Clone, PartialEq)]
pub struct SentMessage {
    /// `id:<id>` when Scrapely gives the message an id, else `t:<time>:<text hash>`.
    pub key: String,
    pub time: i64,
}

fn sent_messages(conversation: &Value, message: &str, text_hash: &str) -> Vec<SentMessage> {
    conversation
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|m| {
            let is_sent = m
                .get("isSent")
                .or_else(|| m.get("is_sent"))
                .and_then(Value::as_bool);
            is_sent != Some(false) && m.get("text").and_then(Value::as_str) == Some(message)
        })
        .filter_map(|m| {
            let time = m.get("time").and_then(Value::as_i64)?;
            let id = ["id", "message_id"]
                .iter()
                .find_map(|k| m.get(*k).and_then(Value::as_str))
                .filter(|id| !id.is_empty());
            let key = match id {
                Some(id) => format!("id:{id}"),
                None => format!("t:{time}:{text_hash}"),
            };
            Some(SentMessage { key, time })
        })
        .collect()
}

/// Which delivered message proves an action whose attempt started at `since`:
/// messages claimed already are out; each DM known sent by its answer (whose
/// message carries no id here) takes the earliest free message of its time
/// window; then each older DM still unproved (`rivals`, oldest first) is set
/// aside the earliest free message at or after its own attempt; of what is
/// left, the earliest at or after `since` (less clock skew).
pub fn pick<'a>(
    sent: &'a [SentMessage],
    claims: &[Delivery],
    text_hash: &str,
    rivals: &[Rival],
    since: i64,
) -> Option<&'a SentMessage> {
    let mut free: Vec<&SentMessage> = sent
        .iter()
        .filter(|m| !claims.iter().any(|c| c.message_key == m.key))
        .collect();
    free.sort_by_key(|m| m.time);
    let mut by_answer: Vec<&Delivery> = claims
        .iter()
        .filter(|c| c.proved_by == ProvedBy::Answer && c.text_hash == text_hash)
        .filter(|c| !sent.iter().any(|m| m.key == c.message_key))
        .collect();
    by_answer.sort_by_key(|c| c.sent_after);
    for claim in by_answer {
        if let Some(pos) = free
            .iter()
            .position(|m| m.time >= claim.sent_after && m.time <= claim.sent_before + SKEW_MS)
        {
            free.remove(pos);
        }
    }
    for rival in rivals {
        if let Some(pos) = free.iter().position(|m| m.time >= rival.since - SKEW_MS) {
            free.remove(pos);
        }
    }
    free.into_iter().find(|m| m.time >= since - SKEW_MS)
}

/// `conversation_id`, or `account`'s conversation with the receiver handle `to`.
/// Scrapely sends DMs only into existing conversations: with none, the DM is
/// skipped with that reason (retrying would not create one).
async fn conversation_id(
    ctx: &Context<'_>,
    params: &Value,
    account: &Account,
) -> Result<String, NotSent> {
    if let Some(id) = optional_text(params, "conversation_id")? {
        return Ok(id.to_string());
    }
    let to = optional_text(params, "to")?.ok_or_else(|| {
        NotSent::Invalid(
            "no conversation: give `conversation_id` or `to` (the receiver's handle)".into(),
        )
    })?;
    ctx.scrapely()?
        .conversation_with(ctx.store, ctx.client, to, account, ctx.timeout)
        .await?
        .ok_or_else(|| {
            NotSent::NoConversation(format!(
                "no Scrapely conversation of @{} with @{}: /dm/send needs an existing conversation of the sending account",
                account.handle,
                to.trim_start_matches('@')
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer_claim(after: i64, before: i64) -> Delivery {
        Delivery {
            conversation_id: "c".into(),
            message_key: format!("id:{after}"),
            text_hash: "h".into(),
            proved_by: ProvedBy::Answer,
            sent_after: after,
            sent_before: before,
            message_time: None,
        }
    }

    fn msg(time: i64) -> SentMessage {
        SentMessage {
            key: format!("t:{time}:h"),
            time,
        }
    }

    #[test]
    fn a_message_claimed_by_one_action_proves_no_other() {
        let sent = [msg(100_000)];
        let mut claimed = answer_claim(0, 0);
        claimed.message_key = sent[0].key.clone();
        claimed.proved_by = ProvedBy::Reconciled;
        assert_eq!(pick(&sent, &[claimed], "h", &[], 99_000), None);
        assert_eq!(pick(&sent, &[], "h", &[], 99_000), Some(&sent[0]));
    }

    #[test]
    fn a_dm_sent_with_an_answer_takes_its_own_message_first() {
        let sent = [msg(100_000), msg(200_000)];
        // One DM answered success around 100 s; a second, crashed, started at 90 s.
        let claims = [answer_claim(95_000, 101_000)];
        assert_eq!(pick(&sent, &claims, "h", &[], 90_000), Some(&sent[1]));
        let only_one = [msg(100_000)];
        assert_eq!(pick(&only_one, &claims, "h", &[], 90_000), None);
    }

    #[test]
    fn a_message_older_than_the_attempt_proves_nothing() {
        let sent = [msg(10_000)];
        assert_eq!(pick(&sent, &[], "h", &[], 60_000), None);
    }

    #[test]
    fn an_older_unproved_dm_takes_the_one_message_whichever_reconciles_first() {
        let sent = [msg(100_000)];
        // DM 1 (attempt at 95 s) and DM 2 (attempt at 96 s): one message got through.
        let older = [Rival {
            action_id: 1,
            since: 95_000,
        }];
        assert_eq!(
            pick(&sent, &[], "h", &older, 96_000),
            None,
            "DM 2 leaves it to DM 1"
        );
        assert_eq!(
            pick(&sent, &[], "h", &[], 95_000),
            Some(&sent[0]),
            "DM 1 takes it"
        );
        // Two messages: each DM gets one.
        let both = [msg(100_000), msg(101_000)];
        assert_eq!(pick(&both, &[], "h", &older, 96_000), Some(&both[1]));
    }
}
