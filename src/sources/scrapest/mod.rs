//! Scrapest (seeds `000`–`002`): the messages every Scrapest channel shares, and
//! its transports — the WebSocket `wss://scrape.st/ws` ([`ws`]), the SSE stream
//! ([`sse`]) and the filter-rules WebSocket ([`filter`]).
//!
//! A message is a plain `ResolvedTweet` (seed `000`) or a SourceEvent
//! `{mid, sid, source, timestamp, payload}` (seed `002`): sources `x` (enriched)
//! and `fast-x` (before enrichment) carry a tweet, stored as event `tweet` with
//! key `tweet:<id>`; `telegram` and `discord` (and any other source) become
//! `<source>.message` events with the SourceEvent's payload under `data`, keyed
//! `scrapest:<source>:<mid>`. The webhook `POST /webhooks/scrapest/{token}`
//! delivers the same SourceEvent.

pub mod filter;
pub mod sse;
pub mod ws;

use super::Rejection;
use super::tweets::tweet_event;
use crate::event::{self, NewEvent, Sighting};
use crate::tweet::{Origin, Tweet};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub const SOURCE: &str = "scrapest";

const EXPECTED: &str = "expected a ResolvedTweet {id, text, author, …} or a SourceEvent \
                        {mid, sid, source, timestamp, payload}";

/// `url` with `useFastX=true` / `ignoreFullPayload=true` when asked for.
pub fn with_options(url: &str, use_fast_x: bool, ignore_full_payload: bool) -> String {
    let mut url = url.to_string();
    for (on, option) in [
        (use_fast_x, "useFastX=true"),
        (ignore_full_payload, "ignoreFullPayload=true"),
    ] {
        if on {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(option);
        }
    }
    url
}

/// The webhook: the same SourceEvent (or tweet), as a body.
pub fn normalize_webhook(body: &[u8], at: OffsetDateTime) -> Result<NewEvent, Rejection> {
    let text = Rejection::utf8(body, EXPECTED)?;
    read(text, at, event::CHANNEL_SCRAPEST_WEBHOOK, None)
}

/// Reads one Scrapest message from `channel` (the public SSE stream's tweets are truncated).
pub fn read(
    text: &str,
    received_at: OffsetDateTime,
    channel: &'static str,
    stream: Option<&str>,
) -> Result<NewEvent, Rejection> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| Rejection::NotJson(format!("not valid JSON ({e}); {EXPECTED}")))?;
    let Some(obj) = value.as_object() else {
        return Err(Rejection::Malformed(format!(
            "the message is JSON but not an object; {EXPECTED}"
        )));
    };
    let origin = Origin::new(stream, SOURCE, channel);
    let truncated = channel == event::CHANNEL_SCRAPEST_SSE_PUBLIC;
    let sighting = Sighting::boxed(stream, text);
    if !(obj.contains_key("source") && obj.contains_key("payload")) {
        if !obj.contains_key("id") {
            return Err(Rejection::Malformed(format!(
                "neither `id` nor `source`/`payload`; {EXPECTED}"
            )));
        }
        let tweet = Tweet::from_resolved(&value, origin, false, truncated)
            .map_err(|e| Rejection::Malformed(e.to_string()))?;
        return Ok(tweet_event(SOURCE, tweet, received_at, channel, sighting));
    }
    let field = |key: &str| match obj.get(key) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let source = field("source").ok_or_else(|| {
        Rejection::Malformed(
            "source: expected a string such as `x`, `fast-x`, `telegram` or `discord`".into(),
        )
    })?;
    let timestamp = obj.get("timestamp").and_then(Value::as_i64);
    let detected_at = timestamp
        .and_then(|ms| OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).ok());
    let payload = &obj["payload"];
    match source.as_str() {
        "x" | "fast-x" => {
            let mut origin = origin;
            origin.detected_at = detected_at.map(crate::clock::format_utc);
            let mut tweet = Tweet::from_resolved(payload, origin, source == "fast-x", truncated)
                .map_err(|e| Rejection::Malformed(format!("payload: {e}")))?;
            let posted = tweet
                .created_at
                .as_deref()
                .and_then(|c| OffsetDateTime::parse(c, &Rfc3339).ok());
            if let (Some(posted), Some(detected)) = (posted, detected_at) {
                tweet.origin.latency_ms = Some((detected - posted).whole_milliseconds() as i64);
            }
            Ok(tweet_event(SOURCE, tweet, received_at, channel, sighting))
        }
        other => {
            let mid = field("mid")
                .ok_or_else(|| Rejection::Malformed("mid: expected the message id".into()))?;
            if !matches!(other, "telegram" | "discord") {
                tracing::warn!(source = other, "Unknown Scrapest source; storing it as is");
            }
            let stored = json!({
                "mid": mid, "sid": field("sid"), "source": other, "timestamp": timestamp,
                "data": payload, "origin": origin_json(stream, channel),
            });
            Ok(NewEvent {
                source: SOURCE,
                kind: format!("{other}.message"),
                dedupe_key: format!("scrapest:{other}:{mid}"),
                vendor_ts: detected_at,
                received_at,
                channel,
                payload: stored.to_string(),
                quality: 0,
                sighting,
                intent: None,
            })
        }
    }
}

fn origin_json(stream: Option<&str>, channel: &str) -> Value {
    json!({"stream": stream, "vendor": SOURCE, "channel": channel})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_go_in_the_query() {
        assert_eq!(
            with_options("wss://scrape.st/ws", true, true),
            "wss://scrape.st/ws?useFastX=true&ignoreFullPayload=true"
        );
        assert_eq!(
            with_options("https://x/stream?token=t", true, false),
            "https://x/stream?token=t&useFastX=true"
        );
        assert_eq!(
            with_options("wss://scrape.st/ws", false, false),
            "wss://scrape.st/ws"
        );
    }

    #[test]
    fn source_events_and_plain_tweets_are_both_read() {
        let now = OffsetDateTime::now_utc();
        let plain = read(
            r#"{"id":"1","text":"hi","author":{"screen_name":"a"}}"#,
            now,
            "scrapest.ws",
            Some("s"),
        )
        .unwrap();
        assert_eq!(
            (plain.kind.as_str(), plain.dedupe_key.as_str()),
            ("tweet", "tweet:1")
        );
        let fast = read(r#"{"mid":"1","sid":"9","source":"fast-x","timestamp":1712072400000,"payload":{"id":"1","text":"hi"}}"#, now, "scrapest.ws", None).unwrap();
        assert_eq!(fast.dedupe_key, "tweet:1");
        assert!(fast.quality < plain.quality);
        let tg = read(
            r#"{"mid":"m7","sid":"c","source":"telegram","timestamp":1,"payload":{"text":"yo"}}"#,
            now,
            "scrapest.ws",
            None,
        )
        .unwrap();
        assert_eq!(
            (tg.kind.as_str(), tg.dedupe_key.as_str()),
            ("telegram.message", "scrapest:telegram:m7")
        );
        let stored: Value = serde_json::from_str(&tg.payload).unwrap();
        assert_eq!(stored["data"]["text"], "yo");
        assert!(matches!(
            read("{nope", now, "scrapest.ws", None),
            Err(Rejection::NotJson(_))
        ));
        assert!(matches!(
            read(r#"{"hello":1}"#, now, "scrapest.ws", None),
            Err(Rejection::Malformed(_))
        ));
    }

    #[test]
    fn public_sse_tweets_are_marked_truncated() {
        let now = OffsetDateTime::now_utc();
        let e = read(r#"{"mid":"1","sid":"9","source":"fast-x","timestamp":1,"payload":{"id":"5","text":"cut"}}"#, now, event::CHANNEL_SCRAPEST_SSE_PUBLIC, None).unwrap();
        let v: Value = serde_json::from_str(&e.payload).unwrap();
        assert_eq!(v["truncated"], true);
    }
}
