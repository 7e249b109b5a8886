//! Scrapest's subscription WebSocket `wss://api.scrape.st/ws` (seed `001`):
//! `Authorization: Bearer <key>`, then one `{"action":"subscribe","filters":{…}}`
//! per configured filter — sent again after every reconnect — and tweets arrive
//! as `{"type":"tweet","data":{id, text, user, created_at, metrics}}`.
//!
//! Its limits hold: at most 5 connections per key, counted with the key's
//! `scrapest` and private `scrapest_sse` streams (checked when the settings load:
//! `config::streams::validate`), and at most 100 messages per second sent per key
//! ([`SendLimiter`], shared by every stream of that key).

use crate::config::{StreamKind, StreamSettings};
use crate::event::{self, NewEvent, Sighting};
use crate::sources::Rejection;
use crate::sources::tweets::tweet_event;
use crate::sources::websocket;
use crate::sources::{Ended, StreamContext};
use crate::tweet::{Origin, Tweet};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::ClientRequestBuilder;

/// Scrapest's limit on messages a client sends.
pub const MESSAGES_PER_SECOND: usize = 100;

const EXPECTED: &str = "expected {\"type\": \"tweet\", \"data\": {\"id\": string, …}}";

pub async fn run(ctx: &StreamContext) -> Ended {
    let uri = match ctx.settings.url().parse() {
        Ok(uri) => uri,
        Err(e) => return Ended::Refused(format!("bad url: {e}")),
    };
    let key = ctx.settings.api_key.as_ref().map_or("", |k| k.expose());
    let request =
        ClientRequestBuilder::new(uri).with_header("Authorization", format!("Bearer {key}"));
    let subscribe = ctx
        .settings
        .filters
        .iter()
        .map(|filters| json!({"action": "subscribe", "filters": filters}).to_string())
        .collect();
    websocket::run(ctx, request, subscribe, read_ws).await
}

fn read_ws(
    ctx: &StreamContext,
    text: &str,
    at: OffsetDateTime,
) -> Result<Option<NewEvent>, Rejection> {
    if let Some(error) = server_error(text) {
        // A refused subscription, say: shown in `starling streams`, the connection stays.
        let error = ctx.scrub(&error);
        tracing::warn!(stream = %ctx.settings.name, %error, "The subscription WebSocket reported an error");
        ctx.status()
            .note_error(format!("the server reported: {error}"));
        return Ok(None);
    }
    read(text, at, Some(&ctx.settings.name))
}

/// A tweet, or `None` for the server's other messages (acknowledgements, errors: logged).
pub fn read(
    text: &str,
    received_at: OffsetDateTime,
    stream: Option<&str>,
) -> Result<Option<NewEvent>, Rejection> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| Rejection::NotJson(format!("not valid JSON ({e}); {EXPECTED}")))?;
    let Some(kind) = value.get("type").and_then(Value::as_str) else {
        return Err(Rejection::Malformed(format!("type: missing; {EXPECTED}")));
    };
    if kind != "tweet" {
        tracing::debug!(
            stream,
            kind,
            "Subscription WebSocket message that is not a tweet"
        );
        return Ok(None);
    }
    let channel = event::CHANNEL_SCRAPEST_FILTER;
    let origin = Origin::new(stream, "scrapest", channel);
    let data = value.get("data").unwrap_or(&Value::Null);
    let tweet =
        Tweet::from_filter(data, origin).map_err(|e| Rejection::Malformed(e.to_string()))?;
    let sighting = Sighting::boxed(stream, text);
    Ok(Some(tweet_event(
        "scrapest",
        tweet,
        received_at,
        channel,
        sighting,
    )))
}

/// The text of a `{"type":"error", …}` message (its `message`, `error` or the whole JSON).
fn server_error(text: &str) -> Option<String> {
    let value: Value = serde_json::from_str(text).ok()?;
    if value.get("type").and_then(Value::as_str) != Some("error") {
        return None;
    }
    let said = ["message", "error", "reason"]
        .iter()
        .find_map(|k| value.get(*k).and_then(Value::as_str).map(str::to_string));
    Some(said.unwrap_or_else(|| text.chars().take(300).collect()))
}

/// At most [`MESSAGES_PER_SECOND`] sends in any one-second window.
pub struct SendLimiter {
    sent: Mutex<VecDeque<Instant>>,
    per_second: usize,
}

impl SendLimiter {
    pub fn new(per_second: usize) -> Self {
        Self {
            sent: Mutex::new(VecDeque::with_capacity(per_second)),
            per_second: per_second.max(1),
        }
    }

    /// Waits until one more message may be sent, and counts it.
    pub async fn wait(&self) {
        let mut sent = self.sent.lock().await;
        let now = Instant::now();
        while sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            sent.pop_front();
        }
        if sent.len() >= self.per_second {
            let oldest = sent.pop_front().expect("full");
            tokio::time::sleep_until(oldest + Duration::from_secs(1)).await;
        }
        sent.push_back(Instant::now());
    }
}

/// One limiter per key of the filter streams.
pub fn limiters(streams: &[StreamSettings]) -> HashMap<String, Arc<SendLimiter>> {
    let mut map = HashMap::new();
    for s in streams
        .iter()
        .filter(|s| s.kind == StreamKind::ScrapestFilter)
    {
        if let Some(key) = &s.api_key {
            map.entry(key.expose().to_string())
                .or_insert_with(|| Arc::new(SendLimiter::new(MESSAGES_PER_SECOND)));
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_limiter_spreads_bursts_over_seconds() {
        let limiter = SendLimiter::new(100);
        let start = Instant::now();
        for _ in 0..250 {
            limiter.wait().await;
        }
        let took = start.elapsed();
        assert!(
            took >= Duration::from_secs(2) && took < Duration::from_millis(2100),
            "{took:?}"
        );
    }

    #[test]
    fn tweets_and_other_messages() {
        let now = OffsetDateTime::now_utc();
        let seed = r#"{"type":"tweet","data":{"id":"1234567890","text":"Tweet content",
            "user":{"id":"user_id","username":"username","name":"Display Name"},
            "created_at":"2024-01-01T00:00:00Z","metrics":{"retweets":10,"likes":25,"replies":5}}}"#;
        let e = read(seed, now, Some("f")).unwrap().unwrap();
        assert_eq!(e.dedupe_key, "tweet:1234567890");
        assert!(
            read(r#"{"type":"subscribed"}"#, now, None)
                .unwrap()
                .is_none()
        );
        assert!(read(r#"{"type":"tweet","data":{"text":"no id"}}"#, now, None).is_err());
    }
}
