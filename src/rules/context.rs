//! What a rule sees of one event: `event`, `data` (with a reply's `data.intent`),
//! `tweet` on tweets, and `now`, as JSON and as the Jinja view of it.

use super::{json_view, matcher};
use serde_json::{Value, json};

/// The evaluation context of one event: `event`, `data` and `now`.
pub struct EventContext {
    pub kind: String,
    /// The intent of the event's text (`keywords:`' text), when it has one.
    pub intent: Option<crate::intent::Intent>,
    pub(super) json: std::sync::Arc<Value>,
    pub(super) jinja: minijinja::Value,
}

/// What rules see of an event besides its data (`event.*`).
pub struct EventMeta<'a> {
    /// The stored event's row id (`None` for sample events).
    pub id: Option<i64>,
    pub source: &'a str,
    pub kind: &'a str,
    pub dedupe_key: &'a str,
    pub received_at: &'a str,
    pub channels: &'a [&'a str],
}

impl EventContext {
    pub fn new(meta: EventMeta<'_>, data: Value) -> Self {
        Self::with_intent(meta, data, None)
    }

    /// [`EventContext::new`] with the intent already classified (a parsed reply's).
    fn with_intent(meta: EventMeta<'_>, data: Value, known: Option<crate::intent::Intent>) -> Self {
        // A tweet is also `tweet` (the README's tweet model).
        let tweet = (meta.kind == "tweet").then(|| data.clone());
        let mut json = json!({
            "event": {
                "id": meta.id,
                "source": meta.source,
                "kind": meta.kind,
                "dedupe_key": meta.dedupe_key,
                "received_at": meta.received_at,
                "channels": meta.channels,
            },
            "data": data,
            "now": crate::clock::format_utc(time::OffsetDateTime::now_utc()),
        });
        if let Some(tweet) = tweet {
            json["tweet"] = tweet;
        }
        let intent = known.or_else(|| {
            matcher::text_path(meta.kind)
                .and_then(|path| matcher::lookup(&json, path))
                .and_then(Value::as_str)
                .map(crate::intent::intent)
        });
        // A reply's intent is part of what rules see (`data.intent.label`).
        if meta.kind == "scrapely.new_reply"
            && let (Some(intent), Some(data)) = (&intent, json["data"].as_object_mut())
        {
            data.insert("intent".into(), json!(intent));
        }
        let json = std::sync::Arc::new(json);
        let jinja = json_view::JsonView::wrap(json.clone());
        Self {
            kind: meta.kind.to_string(),
            intent,
            json,
            jinja,
        }
    }

    /// The context of an event about to be stored.
    pub fn of(event: &crate::event::NewEvent, id: Option<i64>) -> Self {
        let payload: Value = serde_json::from_str(&event.payload).unwrap_or_default();
        let meta = EventMeta {
            id,
            source: event.source,
            kind: &event.kind,
            dedupe_key: &event.dedupe_key,
            received_at: &crate::clock::format_utc(event.received_at),
            channels: &[event.channel],
        };
        let data = crate::event::rule_data(event.source, &payload);
        Self::with_intent(meta, data, event.intent.clone())
    }

    pub fn json(&self) -> &Value {
        &self.json
    }
}
