//! The fake Scrapely's endpoints, one function per documented route (seed `004`):
//! each reads and changes the fake's state and answers (status, JSON body).

use super::answer::{Call, now_ms};
use super::*;

pub(super) fn list_accounts(inner: &mut Inner, _: &Call<'_>) -> (u16, Value) {
    let account = |id: &str, handle: &str, paused: bool| {
        json!({
            "id": id, "handle": handle, "name": "Your Name",
            "is_active": true, "is_verified": true, "dms_sent": 1250,
            "is_paused": paused, "followups_paused": false, "warmup_paused": false
        })
    };
    (
        200,
        json!({"accounts": [
            account(ACCOUNT_ID, "yourhandle", inner.paused),
            account(OTHER_ACCOUNT_ID, "otherhandle", false),
        ]}),
    )
}

pub(super) fn crm_conversations(_: &mut Inner, _: &Call<'_>) -> (u16, Value) {
    (
        200,
        json!({
            "columns": {}, "custom_tags": [{"id": "uuid", "name": "Hot Lead", "color": "#ff0000", "key": "custom_uuid"}],
            "base_tags": ["unread", "interested_reply", "negative_reply", "neutral_reply", "engaged", "calendlyd", "booked", "not_interested", "not_qualified"]
        }),
    )
}

fn account_handle_of(id: &str) -> Option<&'static str> {
    match id {
        ACCOUNT_ID => Some("yourhandle"),
        OTHER_ACCOUNT_ID => Some("otherhandle"),
        _ => None,
    }
}

/// `GET /conversations`: one conversation by `conversation_id`, or a list
/// filtered by `handle` and `account_id`.
pub(super) fn conversations(inner: &mut Inner, call: &Call<'_>) -> (u16, Value) {
    if let Some(id) = call.param("conversation_id") {
        let Some(c) = inner.conversations.iter().find(|c| c.id == id) else {
            return (
                404,
                json!({"error": "Not found", "message": "Conversation not found"}),
            );
        };
        return (
            200,
            json!({"conversation": {
                "conversation_id": c.id, "account_handle": c.account_handle,
                "lead": {"screen_name": c.receiver}, "crm": c.crm, "messages": c.messages
            }}),
        );
    }
    let handle = call
        .param("handle")
        .map(|h| h.trim_start_matches('@').to_lowercase());
    let account = call
        .param("account_id")
        .map(|id| account_handle_of(&id).unwrap_or("nobody"));
    let limit: usize = call
        .param("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(20);
    let list: Vec<Value> = inner
        .conversations
        .iter()
        .filter(|c| handle.as_ref().is_none_or(|h| &c.receiver == h))
        .filter(|c| account.is_none_or(|a| c.account_handle == a))
        .take(limit)
        .map(|c| {
            json!({"conversation_id": c.id, "account_handle": c.account_handle,
                   "receiver": {"screen_name": c.receiver}})
        })
        .collect();
    let count = list.len();
    (
        200,
        json!({"conversations": list, "pagination": {"limit": limit, "count": count, "has_more": false}}),
    )
}

pub(super) fn send_dm(inner: &mut Inner, call: &Call<'_>) -> (u16, Value) {
    let id = call.body["conversation_id"].as_str().unwrap_or_default();
    let sender = call.body["account_id"].as_str().unwrap_or_default();
    let Some(conversation) = inner.conversations.iter_mut().find(|c| c.id == id) else {
        return (
            404,
            json!({"error": "Not found", "message": "Conversation not found"}),
        );
    };
    if account_handle_of(sender) != Some(conversation.account_handle.as_str()) {
        return (
            400,
            json!({"error": "Bad Request", "message": "account_id does not own this conversation"}),
        );
    }
    conversation.messages.push(json!({
        "text": call.body["message"], "time": now_ms(), "sender": "123456789", "isSent": true
    }));
    let handle = conversation.account_handle.clone();
    (
        200,
        json!({"success": true, "message_id": format!("{}", 1_000_000 + inner.next_id), "conversation_id": id, "account_handle": handle}),
    )
}

pub(super) fn update_crm(inner: &mut Inner, call: &Call<'_>) -> (u16, Value) {
    let id = call.body["conversation_id"].as_str().unwrap_or_default();
    if let Some(c) = inner.conversations.iter_mut().find(|c| c.id == id) {
        for field in ["notes", "deal_value", "deal_currency", "tag"] {
            if let Some(v) = call.body.get(field) {
                c.crm[field] = v.clone();
            }
        }
    }
    (200, json!({"success": true, "updated": call.body}))
}

pub(super) fn schedule_tweet(inner: &mut Inner, call: &Call<'_>) -> (u16, Value) {
    let tweet = ScheduledTweet {
        id: format!("7f3a1b2c-4d5e-6f7a-8b9c-{:012}", inner.next_id),
        account_id: call.body["account_id"].as_str().unwrap_or_default().into(),
        text: call.body["tweet_text"].as_str().unwrap_or_default().into(),
        scheduled_at: call.body["scheduled_at"]
            .as_str()
            .unwrap_or_default()
            .into(),
        status: "pending".into(),
        error_message: None,
        posted_at: None,
    };
    let answer = json!({
        "success": true, "message": "Tweet scheduled successfully",
        "scheduled_tweet": tweet_json(&tweet)
    });
    inner.tweets.push(tweet);
    (200, answer)
}

fn tweet_json(t: &ScheduledTweet) -> Value {
    json!({
        "id": t.id, "account_id": t.account_id,
        "account_handle": account_handle_of(&t.account_id).unwrap_or(""),
        "tweet_text": t.text, "scheduled_at": t.scheduled_at, "status": t.status,
        "posted_at": t.posted_at, "error_message": t.error_message, "created_at": "2024-03-15T10:30:00.000Z"
    })
}

pub(super) fn list_scheduled_tweets(inner: &mut Inner, call: &Call<'_>) -> (u16, Value) {
    let account = call.param("account_id");
    let status = call.param("status");
    let limit: usize = call
        .param("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(50)
        .min(100);
    let offset: usize = call
        .param("offset")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let matching: Vec<&ScheduledTweet> = inner
        .tweets
        .iter()
        .filter(|t| t.status != "cancelled")
        .filter(|t| account.as_ref().is_none_or(|a| &t.account_id == a))
        .filter(|t| status.as_ref().is_none_or(|s| &t.status == s))
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|t| tweet_json(t))
        .collect();
    let count = page.len();
    (
        200,
        json!({"scheduled_tweets": page, "pagination": {"limit": limit, "offset": offset, "count": count, "total": matching.len()}}),
    )
}

pub(super) fn cancel_scheduled_tweet(inner: &mut Inner, call: &Call<'_>) -> (u16, Value) {
    let id = call.body["tweet_id"].as_str().unwrap_or_default();
    match inner.tweets.iter_mut().find(|t| t.id == id) {
        Some(t) if t.status == "pending" => {
            t.status = "cancelled".into();
            (
                200,
                json!({"success": true, "message": "Scheduled tweet cancelled", "tweet_id": id}),
            )
        }
        Some(t) if t.status == "cancelled" => (
            404,
            json!({"error": "Not found", "message": "Scheduled tweet not found"}),
        ),
        Some(_) => (
            400,
            json!({"error": "Bad Request", "message": "Only pending tweets can be cancelled"}),
        ),
        None => (
            404,
            json!({"error": "Not found", "message": "Scheduled tweet not found"}),
        ),
    }
}
