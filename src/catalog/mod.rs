//! The action catalog: the closed set of action kinds ([`ActionKind`]) and what
//! each takes ([`CATALOG`]: parameters, their types, defaults from the event),
//! and the pure facts about a rendered action that every layer needs (the account
//! it acts for, what is fixed at creation). A leaf: rules check against it, the
//! store records by it, the executor runs by it; it depends on none of them.

mod kind;
pub use kind::{ActionKind, AfterUnknown, UnknownKind};

/// The account an action acts for (a handle or an id): DMs and tweets of a
/// paused account are held.
pub fn account_of(kind: ActionKind, params: &serde_json::Value) -> Option<String> {
    if !kind.calls_scrapely() {
        return None;
    }
    ["account", "account_handle", "account_id"]
        .iter()
        .find_map(|k| params.get(*k).and_then(|v| v.as_str()))
        .map(|s| s.trim_start_matches('@').to_string())
}

/// Fixes what must not drift between creation and a late retry: a tweet's
/// relative `scheduled_at` (`in 2h`) becomes the time the rule meant, so a retry
/// an hour later still schedules it then.
pub fn normalize(kind: ActionKind, params: &mut serde_json::Value, now: time::OffsetDateTime) {
    if kind != ActionKind::ScheduleTweet {
        return;
    }
    let relative = params
        .get("scheduled_at")
        .and_then(serde_json::Value::as_str)
        .and_then(|s| s.trim().strip_prefix("in "))
        .and_then(|d| humantime::parse_duration(d.trim()).ok());
    if let Some(d) = relative {
        params["scheduled_at"] = crate::clock::format_utc(now + d).into();
    }
}

/// Whether a CRM update reads the conversation's CRM data first: to keep a
/// protected tag (a `tag` is given) or to append to the notes (the default mode).
pub fn reads_current(params: &serde_json::Value) -> bool {
    let notes = params.get("notes").is_some_and(|n| !n.is_null());
    let appends = params.get("notes_mode").and_then(serde_json::Value::as_str) != Some("replace");
    params.get("tag").is_some() || (notes && appends)
}

/// The type a parameter's rendered value must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    Text,
    Number,
    Bool,
    /// A mapping (e.g. HTTP headers, a JSON body).
    Object,
    /// A list (e.g. Slack blocks, accepted statuses).
    List,
    /// Anything JSON.
    Any,
}

#[derive(Debug, Clone, Copy)]
pub struct ParamSpec {
    pub name: &'static str,
    pub kind: ParamKind,
    pub required: bool,
    /// Filled from a Scrapely event when the rule leaves it out (a path into the rule context).
    pub default_from_event: Option<&'static str>,
    /// Another parameter that stands in for this one (a DM's `to` for its
    /// `conversation_id`): when the rule gives it, this one is neither required
    /// nor filled from the event.
    pub or: Option<&'static str>,
    /// Whether YAML `null` is a meaningful value (Scrapely's "null to remove"),
    /// sent as JSON null; elsewhere `rules check` refuses it.
    pub nullable: bool,
    /// A parameter that must not be given with this one (`tweet_id` or `scheduled_by`).
    pub excludes: Option<&'static str>,
    /// A parameter that must be given with this one (`scheduled_by` with `ref`).
    pub needs: Option<&'static str>,
}

#[derive(Debug, Clone, Copy)]
pub struct ActionSpec {
    pub kind: ActionKind,
    pub params: &'static [ParamSpec],
}

const fn p(name: &'static str, kind: ParamKind, required: bool) -> ParamSpec {
    ParamSpec {
        name,
        kind,
        required,
        default_from_event: None,
        or: None,
        nullable: false,
        excludes: None,
        needs: None,
    }
}

const fn from_event(name: &'static str, path: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        kind: ParamKind::Text,
        required: true,
        default_from_event: Some(path),
        or: None,
        nullable: false,
        excludes: None,
        needs: None,
    }
}

impl ParamSpec {
    const fn nullable(self) -> Self {
        ParamSpec {
            nullable: true,
            ..self
        }
    }

    const fn or(self, other: &'static str) -> Self {
        ParamSpec {
            or: Some(other),
            ..self
        }
    }

    const fn excludes(self, other: &'static str) -> Self {
        ParamSpec {
            excludes: Some(other),
            ..self
        }
    }

    const fn needs(self, other: &'static str) -> Self {
        ParamSpec {
            needs: Some(other),
            ..self
        }
    }
}

use ParamKind::*;

/// Every action kind, with parameters as documented by the vendors (seed `004`).
pub const CATALOG: &[ActionSpec] = &[
    ActionSpec {
        kind: ActionKind::SendDm,
        params: &[
            from_event("conversation_id", "data.conversation_id").or("to"),
            p("to", Text, false),
            p("message", Text, true),
            p("account_id", Text, false),
            from_event("account", "data.account_handle").or("account_id"),
            p("receiver_id", Text, false),
        ],
    },
    ActionSpec {
        kind: ActionKind::UpdateCrm,
        params: &[
            from_event("conversation_id", "data.conversation_id"),
            from_event("account_handle", "data.account_handle"),
            p("notes", Text, false).nullable(),
            p("deal_value", Number, false).nullable(),
            p("deal_currency", Text, false).nullable(),
            p("tag", Text, false).nullable(),
            p("notes_mode", Text, false),
            p("force", Bool, false),
        ],
    },
    ActionSpec {
        kind: ActionKind::ScheduleTweet,
        params: &[
            p("account_id", Text, false),
            p("account", Text, false),
            p("tweet_text", Text, true),
            p("scheduled_at", Text, true),
            // A name for the tweet, for a later cancel by `scheduled_by` + `ref`.
            p("ref", Text, false),
        ],
    },
    ActionSpec {
        kind: ActionKind::CancelScheduledTweet,
        params: &[
            p("tweet_id", Text, true)
                .or("scheduled_by")
                .excludes("scheduled_by"),
            // The rule that scheduled the tweet, and the `ref` it gave it.
            p("scheduled_by", Text, false).needs("ref"),
            p("ref", Text, false).needs("scheduled_by"),
        ],
    },
    ActionSpec {
        kind: ActionKind::SlackPost,
        params: &[
            p("text", Text, true),
            p("blocks", List, false),
            p("webhook_url", Text, false),
            p("at_most_once", Bool, false),
        ],
    },
    ActionSpec {
        kind: ActionKind::HttpRequest,
        params: &[
            p("method", Text, false),
            p("url", Text, true),
            p("headers", Object, false),
            p("json", Any, false),
            p("body", Text, false),
            p("success_statuses", List, false),
            p("at_most_once", Bool, false),
        ],
    },
    ActionSpec {
        kind: ActionKind::DoNotContact,
        params: &[
            from_event("handle", "data.receiver.screen_name").or("user_id"),
            p("user_id", Text, false),
            p("reason", Text, false),
        ],
    },
];

impl ActionSpec {
    pub const fn name(&self) -> &'static str {
        self.kind.as_str()
    }
}

pub fn spec(name: &str) -> Option<&'static ActionSpec> {
    CATALOG.iter().find(|a| a.name() == name)
}

pub fn names() -> Vec<&'static str> {
    CATALOG.iter().map(|a| a.name()).collect()
}
