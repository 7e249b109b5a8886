//! Internal events: Starling's own failures as events (`source = "starling"`),
//! stored and matched like any vendor event, so a rule can say "Slack me when a
//! DM is dead". This leaf only says what each one looks like — its kind, its
//! dedupe key (one cause, one event) and its `data`; where each is raised:
//!
//! - an action dead, its outcome unknown, or held: in the group commit that
//!   moves it (`store::writer::announce`, the same transaction: the event can be
//!   neither lost nor doubled), or right after a move made outside the writer;
//! - a stream down longer than `alerts.stream_down_after`, and up again:
//!   `sources::status`;
//! - a rule that fails on an event: in the group commit that evaluated it; a
//!   rules reload that fails: `rules::reload`.
//!
//! Loop safety: an action fired by an `starling.action_*` event never raises
//! another `starling.action_*` event ([`about_action`] says `None`), and a rule
//! failing on a `starling.rule_error` event raises nothing, so an alert about a
//! failure that itself fails stops there.

use super::NewEvent;
use serde_json::{Value, json};
use time::OffsetDateTime;

/// The `source` of every internal event.
pub const SOURCE: &str = "starling";
/// The channel an internal event "arrives" on.
pub const CHANNEL: &str = "starling";

/// The kinds of internal events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InternalKind {
    ActionDead,
    ActionOutcomeUnknown,
    ActionHeld,
    StreamDown,
    StreamUp,
    RuleError,
}

impl InternalKind {
    pub const ALL: [InternalKind; 6] = [
        InternalKind::ActionDead,
        InternalKind::ActionOutcomeUnknown,
        InternalKind::ActionHeld,
        InternalKind::StreamDown,
        InternalKind::StreamUp,
        InternalKind::RuleError,
    ];

    /// The kind as rules name it (`on: starling.action_dead`).
    pub const fn as_str(self) -> &'static str {
        match self {
            InternalKind::ActionDead => "starling.action_dead",
            InternalKind::ActionOutcomeUnknown => "starling.action_outcome_unknown",
            InternalKind::ActionHeld => "starling.action_held",
            InternalKind::StreamDown => "starling.stream_down",
            InternalKind::StreamUp => "starling.stream_up",
            InternalKind::RuleError => "starling.rule_error",
        }
    }

    /// The fields of its `data` (for `rules check`).
    pub const fn data_fields(self) -> &'static [&'static str] {
        match self {
            InternalKind::ActionDead
            | InternalKind::ActionOutcomeUnknown
            | InternalKind::ActionHeld => ACTION_FIELDS,
            InternalKind::StreamDown | InternalKind::StreamUp => STREAM_FIELDS,
            InternalKind::RuleError => RULE_FIELDS,
        }
    }

    pub fn parse(kind: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == kind)
    }
}

const ACTION_FIELDS: &[&str] = &[
    "action_id",
    "action",
    "status",
    "rule",
    "event_id",
    "event_kind",
    "account",
    "error",
    "attempts",
    "series",
];
const STREAM_FIELDS: &[&str] = &[
    "stream",
    "vendor",
    "down_since",
    "down_secs",
    "last_error",
    "up_at",
];
const RULE_FIELDS: &[&str] = &["rule", "error", "during", "event_id", "event_kind"];

/// Whether `kind` (an event's) is about an action: what such an event fires
/// never raises another (loop safety).
pub fn is_about_an_action(kind: &str) -> bool {
    matches!(
        InternalKind::parse(kind),
        Some(
            InternalKind::ActionDead
                | InternalKind::ActionOutcomeUnknown
                | InternalKind::ActionHeld
        )
    )
}

/// An action as it stands after a move, with the kind of the event that fired it.
#[derive(Debug, Clone)]
pub struct ActionFacts {
    pub id: i64,
    pub kind: String,
    /// `dead`, `outcome_unknown` or `held` raise an event; any other nothing.
    pub status: String,
    pub rule: String,
    pub event_id: i64,
    pub event_kind: String,
    pub account: Option<String>,
    pub error: Option<String>,
    pub attempts: i32,
    pub series: i32,
    /// When it moved (ms): a held action may be held again after a release.
    pub updated_at: i64,
}

/// The event an action's new status raises, if any: none for a status that
/// needs no one, nor for an action fired by an event about an action.
pub fn about_action(f: &ActionFacts) -> Option<NewEvent> {
    let kind = match f.status.as_str() {
        "dead" => InternalKind::ActionDead,
        "outcome_unknown" => InternalKind::ActionOutcomeUnknown,
        "held" => InternalKind::ActionHeld,
        _ => return None,
    };
    if is_about_an_action(&f.event_kind) {
        return None;
    }
    // A series dies (or is left unknown) once; `jobs retry` starts a new one.
    let key = match kind {
        InternalKind::ActionHeld => {
            format!("{}:{}:{}:{}", kind.as_str(), f.id, f.series, f.updated_at)
        }
        _ => format!("{}:{}:{}", kind.as_str(), f.id, f.series),
    };
    // An error names what failed, never a credential (URLs redacted again here).
    let error = f.error.as_deref().map(crate::secret::redact_urls_in);
    Some(internal(
        kind,
        key,
        json!({
            "action_id": f.id,
            "action": f.kind,
            "status": f.status,
            "rule": f.rule,
            "event_id": f.event_id,
            "event_kind": f.event_kind,
            "account": f.account,
            "error": error,
            "attempts": f.attempts,
            "series": f.series,
        }),
    ))
}

/// A stream held by this process has been disconnected since `down_since` (ms).
pub fn stream_down(
    stream: &str,
    vendor: &str,
    down_since: i64,
    now: i64,
    last_error: Option<&str>,
) -> NewEvent {
    internal(
        InternalKind::StreamDown,
        format!(
            "{}:{stream}:{down_since}",
            InternalKind::StreamDown.as_str()
        ),
        json!({
            "stream": stream,
            "vendor": vendor,
            "down_since": format_ms(down_since),
            "down_secs": (now - down_since) / 1000,
            "last_error": last_error.map(crate::secret::redact_urls_in),
        }),
    )
}

/// A stream announced down is connected again.
pub fn stream_up(stream: &str, vendor: &str, down_since: i64, up_at: i64) -> NewEvent {
    internal(
        InternalKind::StreamUp,
        format!("{}:{stream}:{down_since}", InternalKind::StreamUp.as_str()),
        json!({
            "stream": stream,
            "vendor": vendor,
            "down_since": format_ms(down_since),
            "down_secs": (up_at - down_since) / 1000,
            "up_at": format_ms(up_at),
        }),
    )
}

/// A rule failed to evaluate or render on a stored event.
pub fn rule_failed(rule: &str, error: &str, event_id: i64, event_kind: &str) -> Option<NewEvent> {
    if event_kind == InternalKind::RuleError.as_str() {
        return None;
    }
    Some(internal(
        InternalKind::RuleError,
        format!("{}:{rule}:{event_id}", InternalKind::RuleError.as_str()),
        json!({
            "rule": rule,
            "error": crate::secret::redact_urls_in(error),
            "during": "evaluation",
            "event_id": event_id,
            "event_kind": event_kind,
        }),
    ))
}

/// A rules reload failed (the last good set keeps running); `error` is the
/// checker's report. One event per distinct report.
pub fn reload_failed(error: &str) -> NewEvent {
    let digest = super::canonical_sha256(&Value::String(error.to_string()));
    internal(
        InternalKind::RuleError,
        format!(
            "{}:reload:{}",
            InternalKind::RuleError.as_str(),
            &digest[..16]
        ),
        json!({
            "rule": null,
            "error": crate::secret::redact_urls_in(error),
            "during": "reload",
            "event_id": null,
            "event_kind": null,
        }),
    )
}

fn internal(kind: InternalKind, dedupe_key: String, data: Value) -> NewEvent {
    NewEvent {
        source: SOURCE,
        kind: kind.as_str().to_string(),
        dedupe_key,
        vendor_ts: None,
        received_at: OffsetDateTime::now_utc(),
        channel: CHANNEL,
        payload: data.to_string(),
        quality: 0,
        sighting: None,
        intent: None,
    }
}

fn format_ms(ms: i64) -> Option<String> {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .map(crate::clock::format_utc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(status: &str, event_kind: &str) -> ActionFacts {
        ActionFacts {
            id: 7,
            kind: "slack.post".into(),
            status: status.into(),
            rule: "r".into(),
            event_id: 3,
            event_kind: event_kind.into(),
            account: None,
            error: Some("POST https://hooks.slack.com/services/T0/B0/SEKRET failed".into()),
            attempts: 8,
            series: 1,
            updated_at: 5,
        }
    }

    #[test]
    fn a_dead_action_raises_one_event_keyed_by_its_series_and_no_secret() {
        let e = about_action(&facts("dead", "tweet")).unwrap();
        assert_eq!(e.kind, "starling.action_dead");
        assert_eq!(e.dedupe_key, "starling.action_dead:7:1");
        assert!(!e.payload.contains("SEKRET"), "{}", e.payload);
        assert!(about_action(&facts("succeeded", "tweet")).is_none());
    }

    #[test]
    fn what_an_event_about_an_action_fires_raises_nothing_about_actions() {
        for kind in [
            "starling.action_dead",
            "starling.action_outcome_unknown",
            "starling.action_held",
        ] {
            assert!(about_action(&facts("dead", kind)).is_none(), "{kind}");
        }
        assert!(about_action(&facts("dead", "starling.stream_down")).is_some());
        assert!(rule_failed("r", "boom", 1, "starling.rule_error").is_none());
        assert!(rule_failed("r", "boom", 1, "tweet").is_some());
    }

    #[test]
    fn every_kind_is_known_to_rules() {
        for kind in InternalKind::ALL {
            assert!(
                crate::event::KNOWN_KINDS.contains(&kind.as_str()),
                "{kind:?}"
            );
            assert_eq!(InternalKind::parse(kind.as_str()), Some(kind));
        }
    }
}
