//! The normalized event every source produces before it is stored.
//!
//! An event is identified by its dedupe key: a second delivery of the same
//! vendor event (a webhook retry, the same tweet on another channel) maps to the
//! same key and becomes a *sighting* of the stored event, never a new one.

pub mod internal;

use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// Over which channel an event arrived; recorded per sighting.
pub const CHANNEL_WEBHOOK: &str = "webhook";
pub const CHANNEL_SCRAPEST_WS: &str = "scrapest.ws";
pub const CHANNEL_SCRAPEST_SSE: &str = "scrapest.sse";
pub const CHANNEL_SCRAPEST_SSE_PUBLIC: &str = "scrapest.sse_public";
pub const CHANNEL_SCRAPEST_FILTER: &str = "scrapest.filter";
pub const CHANNEL_SCRAPEST_WEBHOOK: &str = "scrapest.webhook";
pub const CHANNEL_SCRAPEBADGER_WS: &str = "scrapebadger.ws";
pub const CHANNEL_SCRAPEBADGER_WEBHOOK: &str = "scrapebadger.webhook";

/// Every event kind rules may react to (`on:`).
pub const KNOWN_KINDS: &[&str] = &[
    "scrapely.new_reply",
    "scrapely.account_paused",
    "scrapely.leads_exhausted",
    "tweet",
    "telegram.message",
    "discord.message",
    // Internal events (`internal`): Starling's own failures.
    "starling.action_dead",
    "starling.action_outcome_unknown",
    "starling.action_held",
    "starling.stream_down",
    "starling.stream_up",
    "starling.rule_error",
];

/// What rules see as `data`. For Scrapely, the envelope's `data` (a reply's
/// missing `receiver` or `message` as null, see [`scrapely_rule_data`]); for a
/// Scrapest Telegram or Discord message, the SourceEvent's payload, stored under
/// `data`; for a tweet, the stored tweet itself (see [`crate::tweet`]).
pub fn rule_data(source: &str, payload: &Value) -> Value {
    match (source, payload.get("data")) {
        ("scrapely", Some(data)) => scrapely_rule_data(payload, data),
        ("scrapest", Some(data)) => data.clone(),
        _ => payload.clone(),
    }
}

/// What rules see as `data` of a Scrapely event: the envelope's `data`, where a
/// `new_reply`'s `receiver` or `message` that did not come is null, so that
/// `data.receiver.name | default('there')` works on a reply without a receiver
/// (a missing field of an object that came is undefined, as always: `default`
/// applies). The stored payload stays as received.
fn scrapely_rule_data(payload: &serde_json::Value, data: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    let mut data = data.clone();
    if payload.get("event").and_then(Value::as_str) == Some("new_reply")
        && let Some(fields) = data.as_object_mut()
    {
        for key in ["receiver", "message"] {
            fields.entry(key).or_insert(Value::Null);
        }
    }
    data
}

/// One arrival of an event over a stream or webhook, kept as received
/// (`event_sightings`): the same tweet seen on two channels is one event with
/// two sightings.
#[derive(Debug, Clone)]
pub struct Sighting {
    /// The configured stream's name; `None` for webhooks.
    pub stream: Option<String>,
    /// The message exactly as received.
    pub raw: String,
}

impl Sighting {
    pub fn boxed(stream: Option<&str>, raw: &str) -> Option<Box<Sighting>> {
        Some(Box::new(Sighting {
            stream: stream.map(str::to_string),
            raw: raw.to_string(),
        }))
    }
}

/// An event ready to be committed by the store's writer.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// Vendor: `scrapely`, `scrapest`, `scrapebadger`; `starling` for [`internal`] events.
    pub source: &'static str,
    /// `<source>.<vendor event type>`, e.g. `scrapely.new_reply`.
    pub kind: String,
    /// Unique across all events; see the source module for how it is derived.
    pub dedupe_key: String,
    /// The vendor's own timestamp for the event, when it gives one.
    pub vendor_ts: Option<OffsetDateTime>,
    /// When we received this sighting.
    pub received_at: OffsetDateTime,
    /// Channel of this sighting, e.g. [`CHANNEL_WEBHOOK`].
    pub channel: &'static str,
    /// The vendor's payload as received (for a tweet: the normalized tweet): JSON
    /// text, already validated by the source that parsed it (kept as text so the
    /// hot path does not re-serialize it).
    pub payload: String,
    /// How complete this version is ([`crate::tweet::Quality`]; 0 when versions
    /// are not ranked). A sighting of higher quality replaces the stored payload
    /// and lets rules that have not decided on the event yet decide.
    pub quality: i16,
    /// Recorded in `event_sightings` (stream and tweet sources).
    pub sighting: Option<Box<Sighting>>,
    /// A Scrapely reply's intent, classified once when it is parsed; stored in
    /// the `intent*` columns and seen by rules as `data.intent`.
    pub intent: Option<crate::intent::Intent>,
}

/// What committing an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    pub event_id: i64,
    /// False when the dedupe key was already stored: this was another sighting.
    pub created: bool,
    /// Another sighting that brought a better version: the stored payload was
    /// replaced and rules that had not decided on the event yet were evaluated.
    pub upgraded: bool,
}

/// SHA-256 (hex) of the canonical JSON form of `value`: object keys sorted,
/// no insignificant whitespace. Used as a dedupe key when a payload carries no id.
pub fn canonical_sha256(value: &Value) -> String {
    // serde_json's map is a BTreeMap (the `preserve_order` feature is off), so
    // serializing a Value already sorts keys at every level.
    let canonical = serde_json::to_vec(value).expect("a JSON value always serializes");
    hex::encode(Sha256::digest(&canonical))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_hash_ignores_key_order_and_whitespace() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": {"y": [1,2], "x": null}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":{"x":null,"y":[1,2]},"b":1}"#).unwrap();
        assert_eq!(canonical_sha256(&a), canonical_sha256(&b));
        assert_ne!(canonical_sha256(&a), canonical_sha256(&json!({"b": 2})));
    }
}
