//! The action kinds rules may name, and the parameters each declares.
//!
//! `rules check` validates every action of every rule against these declarations
//! (unknown action, unknown parameter, missing required parameter, literal of the
//! wrong type). Executing actions through the durable queue is the next stage of
//! the pipeline; until it lands, matches are recorded with their rendered actions
//! (`rule_matches.actions`) and nothing is sent.

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
    /// Filled from the event when the rule leaves it out (a path into the rule context).
    pub default_from_event: Option<&'static str>,
}

#[derive(Debug, Clone, Copy)]
pub struct ActionSpec {
    pub name: &'static str,
    pub params: &'static [ParamSpec],
}

const fn p(name: &'static str, kind: ParamKind, required: bool) -> ParamSpec {
    ParamSpec {
        name,
        kind,
        required,
        default_from_event: None,
    }
}

const fn from_event(name: &'static str, path: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        kind: ParamKind::Text,
        required: true,
        default_from_event: Some(path),
    }
}

use ParamKind::*;

/// Every action kind, with parameters as documented by the vendors (seed `004`).
pub const CATALOG: &[ActionSpec] = &[
    ActionSpec {
        name: "scrapely.send_dm",
        params: &[
            from_event("conversation_id", "data.conversation_id"),
            p("message", Text, true),
            p("account_id", Text, false),
            p("account", Text, false),
        ],
    },
    ActionSpec {
        name: "scrapely.update_crm",
        params: &[
            from_event("conversation_id", "data.conversation_id"),
            from_event("account_handle", "data.account_handle"),
            p("notes", Text, false),
            p("deal_value", Number, false),
            p("deal_currency", Text, false),
            p("tag", Text, false),
        ],
    },
    ActionSpec {
        name: "scrapely.schedule_tweet",
        params: &[
            p("account_id", Text, false),
            p("account", Text, false),
            p("tweet_text", Text, true),
            p("scheduled_at", Text, true),
        ],
    },
    ActionSpec {
        name: "scrapely.cancel_scheduled_tweet",
        params: &[p("id", Text, true)],
    },
    ActionSpec {
        name: "slack.post",
        params: &[
            p("text", Text, true),
            p("blocks", List, false),
            p("webhook_url", Text, false),
        ],
    },
    ActionSpec {
        name: "http.request",
        params: &[
            p("method", Text, false),
            p("url", Text, true),
            p("headers", Object, false),
            p("json", Any, false),
            p("body", Text, false),
            p("success_statuses", List, false),
        ],
    },
];

pub fn spec(name: &str) -> Option<&'static ActionSpec> {
    CATALOG.iter().find(|a| a.name == name)
}

pub fn names() -> Vec<&'static str> {
    CATALOG.iter().map(|a| a.name).collect()
}
