//! ScrapeBadger (seed `003`): its `tweet.detected` messages, read the same from
//! the WebSocket ([`stream`]) and from the webhook `POST
//! /webhooks/scrapebadger/{token}`, the documented backup channel.

pub mod stream;

use super::Rejection;
use super::tweets::tweet_event;
use crate::event::{self, NewEvent, Sighting};
use crate::tweet::{Origin, Tweet};
use serde_json::Value;
use time::OffsetDateTime;

pub const SOURCE: &str = "scrapebadger";

const EXPECTED: &str = "expected {\"event\": \"tweet.detected\", \"tweet_id\": string, …}";

pub fn normalize_webhook(body: &[u8], at: OffsetDateTime) -> Result<NewEvent, Rejection> {
    let text = Rejection::utf8(body, EXPECTED)?;
    read(text, at, event::CHANNEL_SCRAPEBADGER_WEBHOOK, None)?
        .ok_or_else(|| Rejection::Malformed(format!("event: not a tweet event; {EXPECTED}")))
}

/// One message: `tweet.detected` becomes a tweet; another event type is logged and skipped.
pub fn read(
    text: &str,
    received_at: OffsetDateTime,
    channel: &'static str,
    stream: Option<&str>,
) -> Result<Option<NewEvent>, Rejection> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| Rejection::NotJson(format!("not valid JSON ({e}); {EXPECTED}")))?;
    let Some(kind) = value.get("event").and_then(Value::as_str) else {
        return Err(Rejection::Malformed(format!("event: missing; {EXPECTED}")));
    };
    if kind != "tweet.detected" {
        tracing::debug!(
            event = kind,
            "ScrapeBadger message that is not a tweet; skipped"
        );
        return Ok(None);
    }
    let origin = Origin::new(stream, SOURCE, channel);
    let tweet =
        Tweet::from_detected(&value, origin).map_err(|e| Rejection::Malformed(e.to_string()))?;
    let sighting = Sighting::boxed(stream, text);
    Ok(Some(tweet_event(
        SOURCE,
        tweet,
        received_at,
        channel,
        sighting,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_event_is_a_tweet_with_its_monitor() {
        let seed = r#"{"event":"tweet.detected","monitor_id":"abc-123","monitor_name":"Tech Leaders",
            "tweet_id":"1234567890","author_username":"elonmusk","tweet_text":"Just announced...",
            "tweet_url":"https://x.com/elonmusk/status/1234567890","tweet_published_at":"2026-03-13T12:00:00Z",
            "detected_at":"2026-03-13T12:00:00.150Z","latency_ms":150}"#;
        let e = read(
            seed,
            OffsetDateTime::now_utc(),
            "scrapebadger.ws",
            Some("b"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(e.dedupe_key, "tweet:1234567890");
        let v: Value = serde_json::from_str(&e.payload).unwrap();
        assert_eq!(v["origin"]["monitor"], "Tech Leaders");
        assert_eq!(v["author"]["screen_name"], "elonmusk");
        assert!(
            read(
                r#"{"event":"heartbeat"}"#,
                OffsetDateTime::now_utc(),
                "x",
                None
            )
            .unwrap()
            .is_none()
        );
    }
}
