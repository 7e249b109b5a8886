//! Scrapely's outbound webhooks (seed `004`, "Webhooks"): the envelope
//! `{event, timestamp, data}` with events `new_reply`, `account_paused` and
//! `leads_exhausted`. Scrapely does not sign its webhooks and retries a failed
//! delivery up to 3 times, so the dedupe key is derived from the payload:
//!
//! | event | dedupe key |
//! |---|---|
//! | `new_reply` | `scrapely:new_reply:<data.message.id>`, or `scrapely:new_reply:sha256:<SHA-256 of the canonical JSON body>` when the id is missing or empty |
//! | `account_paused` | `scrapely:account_paused:<data.account_id>:<timestamp>` |
//! | `leads_exhausted` | `scrapely:leads_exhausted:<data.campaign_id>:<timestamp>` |
//! | anything else | `scrapely:sha256:<SHA-256 of the canonical JSON body>` |
//!
//! Only what identifies an event is required: a `new_reply` without
//! `message.text`, `message.id` or `receiver` is still a reply (rules see a
//! missing `receiver` or `message` as null, see [`crate::event::rule_data`]); a field that is
//! present must have its documented type.
//!
//! An event type Starling does not know is stored as `scrapely.<event>` (a new
//! vendor event must not be lost), and logged as a warning.

use super::Rejection;
use crate::clock::format_utc;
use crate::event::{CHANNEL_WEBHOOK, NewEvent, canonical_sha256};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use std::borrow::Cow;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub const SOURCE: &str = "scrapely";

const EXPECTED_ENVELOPE: &str =
    "expected a JSON object {\"event\": string, \"timestamp\": string, \"data\": object}";

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(borrow)]
    timestamp: Cow<'a, str>,
    #[serde(borrow)]
    data: &'a RawValue,
}

// The fields below are the ones Starling relies on; others the vendor sends are kept
// in the stored payload untouched. Only what identifies the event is required; the
// rest is checked for its type when present.
#[derive(Deserialize)]
#[allow(dead_code)] // fields are checked for presence and type, then read from the payload
struct NewReply {
    conversation_id: String,
    account_handle: Option<String>,
    receiver: Option<Receiver>,
    message: Option<Message>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Receiver {
    screen_name: Option<String>,
    name: Option<String>,
    profile_image_url: Option<String>,
}

#[derive(Deserialize, Default)]
#[allow(dead_code)]
struct Message {
    id: Option<String>,
    text: Option<String>,
    created_at: Option<String>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct AccountPaused {
    account_id: String,
    account_handle: Option<String>,
    reason: Option<String>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct LeadsExhausted {
    campaign_id: String,
    campaign_name: Option<String>,
    account_handle: Option<String>,
    total_sent: Option<u64>,
}

/// Turns a webhook body into an event, or says precisely what is wrong with it.
pub fn normalize(body: &[u8], received_at: OffsetDateTime) -> Result<NewEvent, Rejection> {
    let text = Rejection::utf8(body, EXPECTED_ENVELOPE)?;
    let envelope: Envelope = parse(text, "")?;
    if !text.trim_start().starts_with('{') {
        return Err(Rejection::Malformed(format!(
            "the body is JSON but not an object; {EXPECTED_ENVELOPE}"
        )));
    }
    let vendor_ts = OffsetDateTime::parse(&envelope.timestamp, &Rfc3339).map_err(|_| {
        Rejection::Malformed(format!(
            "timestamp: `{}` is not a date-time; expected RFC 3339 such as 2024-02-28T12:00:00.000Z",
            envelope.timestamp
        ))
    })?;
    if !valid_event_name(&envelope.event) {
        return Err(Rejection::Malformed(
            "event: expected a non-empty name of letters, digits, `_`, `.` or `-` (at most 64)"
                .into(),
        ));
    }
    let data = envelope.data.get();
    if !data.starts_with('{') {
        return Err(Rejection::Malformed(format!(
            "data: expected an object, got `{}`",
            data.chars().take(40).collect::<String>()
        )));
    }
    let ts = format_utc(vendor_ts);
    let mut intent = None;
    let dedupe_key = match envelope.event.as_ref() {
        "new_reply" => {
            let reply: NewReply = parse(data, "data")?;
            let message = reply.message.unwrap_or_default();
            // Classified once, here: stored with the event and seen by the rules.
            intent = message.text.as_deref().map(crate::intent::intent);
            match message.id.filter(|id| !id.trim().is_empty()) {
                Some(id) => format!("scrapely:new_reply:{id}"),
                // Without a message id, only the body itself tells one reply from
                // another (and a retry, which repeats the body, from a new reply).
                None => format!("scrapely:new_reply:sha256:{}", body_sha256(text)),
            }
        }
        "account_paused" => {
            let paused: AccountPaused = parse(data, "data")?;
            format!("scrapely:account_paused:{}:{ts}", paused.account_id)
        }
        "leads_exhausted" => {
            let exhausted: LeadsExhausted = parse(data, "data")?;
            format!("scrapely:leads_exhausted:{}:{ts}", exhausted.campaign_id)
        }
        other => {
            tracing::warn!(
                event = other,
                "Unknown Scrapely webhook event type; storing it as is"
            );
            format!("scrapely:sha256:{}", body_sha256(text))
        }
    };
    Ok(NewEvent {
        source: SOURCE,
        kind: format!("scrapely.{}", envelope.event),
        dedupe_key,
        vendor_ts: Some(vendor_ts),
        received_at,
        channel: CHANNEL_WEBHOOK,
        payload: text.to_owned(),
        quality: 0,
        sighting: None,
        intent,
    })
}

/// SHA-256 of the canonical JSON form of a body already parsed once.
fn body_sha256(text: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(text).expect("parsed above");
    canonical_sha256(&value)
}

fn valid_event_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// Deserializes `json` as `T`. On failure, tells invalid JSON (`NotJson`) from JSON
/// of the wrong shape (`Malformed`, naming the full path of the first bad field).
/// The path-tracking parse runs only on that error path, keeping the hot path lean.
fn parse<'a, T: Deserialize<'a>>(json: &'a str, prefix: &str) -> Result<T, Rejection> {
    let error = match serde_json::from_str(json) {
        Ok(value) => return Ok(value),
        Err(error) => error,
    };
    if let Err(syntax) = serde_json::from_str::<IgnoredAny>(json) {
        return Err(Rejection::NotJson(format!(
            "the body is not valid JSON ({syntax}); {EXPECTED_ENVELOPE}"
        )));
    }
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let detailed = match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
        Ok(_) => return Err(Rejection::Malformed(format!("{prefix}: {error}"))),
        Err(detailed) => detailed,
    };
    let mut path = detailed.path().to_string();
    let message = strip_position(&detailed.inner().to_string());
    // serde reports a missing field at its parent; name the field itself.
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
    {
        path = if path == "." {
            field.to_string()
        } else {
            format!("{path}.{field}")
        };
    }
    let full = match (prefix, path.as_str()) {
        ("", ".") => "body".to_string(),
        ("", p) => p.to_string(),
        (pre, ".") => pre.to_string(),
        (pre, p) => format!("{pre}.{p}"),
    };
    Err(Rejection::Malformed(format!("{full}: {message}")))
}

/// serde_json appends " at line L column C"; the field path says more to a user.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/scrapely/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    #[test]
    fn seed_payloads_get_their_kind_and_key() {
        let cases = [
            (
                "new_reply",
                "scrapely.new_reply",
                "scrapely:new_reply:1234567890123456789",
            ),
            (
                "account_paused",
                "scrapely.account_paused",
                "scrapely:account_paused:550e8400-e29b-41d4-a716-446655440000:2024-02-28T12:00:00.000Z",
            ),
            (
                "leads_exhausted",
                "scrapely.leads_exhausted",
                "scrapely:leads_exhausted:camp_abc123:2024-02-28T12:00:00.000Z",
            ),
        ];
        for (file, kind, key) in cases {
            let event = normalize(&fixture(file), now()).unwrap();
            assert_eq!(event.kind, kind);
            assert_eq!(event.dedupe_key, key);
            assert_eq!(event.source, "scrapely");
        }
    }

    #[test]
    fn unknown_event_is_kept_with_a_content_hash_key() {
        let event = normalize(&fixture("unknown_event"), now()).unwrap();
        assert_eq!(event.kind, "scrapely.campaign_finished");
        assert!(event.dedupe_key.starts_with("scrapely:sha256:"));
        assert_eq!(event.dedupe_key.len(), "scrapely:sha256:".len() + 64);
    }

    #[test]
    fn missing_field_is_named_by_its_full_path() {
        let Err(Rejection::Malformed(detail)) =
            normalize(&fixture("new_reply_missing_conversation_id"), now())
        else {
            panic!("expected a malformed rejection");
        };
        assert!(
            detail.starts_with("data.conversation_id: missing field"),
            "{detail}"
        );
    }

    #[test]
    fn a_reply_without_text_receiver_or_message_is_still_a_reply() {
        let bodies = [
            r#"{"event": "new_reply", "timestamp": "2024-02-28T12:00:00Z", "data": {"conversation_id": "c", "message": {"id": "m1"}}}"#,
            r#"{"event": "new_reply", "timestamp": "2024-02-28T12:00:00Z", "data": {"conversation_id": "c", "receiver": null, "message": {"id": "m1", "text": null}}}"#,
            r#"{"event": "new_reply", "timestamp": "2024-02-28T12:00:00Z", "data": {"conversation_id": "c", "receiver": {"name": "N"}, "message": {"id": "m1", "text": "hi"}}}"#,
        ];
        for body in bodies {
            let event = normalize(body.as_bytes(), now()).unwrap();
            assert_eq!(event.kind, "scrapely.new_reply");
            assert_eq!(event.dedupe_key, "scrapely:new_reply:m1", "{body}");
            assert_eq!(event.payload, body, "the payload is stored as received");
        }
        // Rules see a receiver or message that did not come as null; the rest as sent.
        let payload: serde_json::Value = serde_json::from_str(bodies[0]).unwrap();
        let data = crate::event::rule_data("scrapely", &payload);
        assert_eq!(
            data,
            serde_json::json!({"conversation_id": "c", "receiver": null, "message": {"id": "m1"}})
        );
        let bare = serde_json::json!({"event": "new_reply", "data": {"conversation_id": "c"}});
        assert_eq!(
            crate::event::rule_data("scrapely", &bare),
            serde_json::json!({"conversation_id": "c", "receiver": null, "message": null})
        );
        let payload: serde_json::Value = serde_json::from_slice(&fixture("new_reply")).unwrap();
        assert_eq!(
            crate::event::rule_data("scrapely", &payload),
            payload["data"]
        );
    }

    #[test]
    fn a_reply_without_a_message_id_is_keyed_by_its_body() {
        let event = normalize(&fixture("new_reply_missing_message_id"), now()).unwrap();
        let prefix = "scrapely:new_reply:sha256:";
        assert!(event.dedupe_key.starts_with(prefix), "{}", event.dedupe_key);
        assert_eq!(event.dedupe_key.len(), prefix.len() + 64);
        let reply = |id: &str, text: &str| {
            let body = format!(
                r#"{{"event": "new_reply", "timestamp": "2024-02-28T12:00:00Z", "data": {{"conversation_id": "c", "message": {{"id": "{id}", "text": "{text}"}}}}}}"#
            );
            normalize(body.as_bytes(), now()).unwrap().dedupe_key
        };
        // Two replies with an empty id are two events; a retry of one is the same.
        assert_ne!(reply("", "yes"), reply("", "no"));
        assert_eq!(reply("", "yes"), reply("", "yes"));
        assert_eq!(reply(" ", "yes"), reply(" ", "yes"));
        assert!(reply("", "yes").starts_with(prefix));
        // A whitespace-insensitive, key-order-insensitive hash: a re-serialized retry matches.
        let spaced = r#"{ "data": {"message": {"text": "yes", "id": ""}, "conversation_id": "c"}, "timestamp": "2024-02-28T12:00:00Z", "event": "new_reply" }"#;
        assert_eq!(
            normalize(spaced.as_bytes(), now()).unwrap().dedupe_key,
            reply("", "yes")
        );
    }

    #[test]
    fn mistyped_envelope_fields_are_named() {
        let cases = [
            (
                r#"{"event": 5, "timestamp": "2024-02-28T12:00:00Z", "data": {}}"#,
                "event: invalid type",
            ),
            (r#"{"event": "x", "data": {}}"#, "timestamp: missing field"),
            (
                r#"{"event": "x", "timestamp": "yesterday", "data": {}}"#,
                "timestamp: `yesterday`",
            ),
            (
                r#"{"event": "x", "timestamp": "2024-02-28T12:00:00Z", "data": []}"#,
                "data: expected an object, got `[]`",
            ),
            (
                r#"{"event": "new_reply", "timestamp": "2024-02-28T12:00:00Z", "data": {"conversation_id": "c", "message": {"id": 7, "text": "t"}}}"#,
                "data.message.id: invalid type: integer `7`, expected a string",
            ),
        ];
        for (body, expected) in cases {
            match normalize(body.as_bytes(), now()) {
                Err(Rejection::Malformed(detail)) => {
                    assert!(detail.starts_with(expected), "{detail}")
                }
                _ => panic!("{body} should be malformed"),
            }
        }
    }

    #[test]
    fn non_json_is_told_apart_from_malformed() {
        assert!(matches!(
            normalize(b"event=new_reply", now()),
            Err(Rejection::NotJson(_))
        ));
        assert!(matches!(
            normalize(b"[1,2]", now()),
            Err(Rejection::Malformed(_))
        ));
    }
}
