//! Actions: what rules make Starling do, one module per kind.
//!
//! [`CATALOG`] declares each kind's parameters, so `rules check` validates every
//! action of every rule (unknown action, unknown or missing parameter, literal of
//! the wrong type). At run time each kind's module turns rendered parameters into
//! one [`outbound::Outbound`] request or says why it cannot ([`NotSent`]);
//! [`executor`] owns everything around the call: claiming, attempts, retries,
//! rate limits, holds and reconciliation.

pub mod accounts;
pub mod backoff;
pub mod do_not_contact;
pub mod executor;
pub mod http_request;
pub mod kind;
pub use kind::ActionKind;
mod ledger;
pub mod outbound;
pub mod params;
pub mod rate_headers;
pub mod reconcile;
mod reveal;
pub mod schedule_tweet;
pub mod scrapely;
pub mod send_dm;
pub mod slack;
pub mod sweep;
pub mod tweet_follow;
pub mod update_crm;

use crate::secret::Secret;
use crate::store::Store;
use scrapely::{Lookup, Scrapely};
use std::time::Duration;

/// Why an action was not sent this time.
#[derive(Debug, Clone)]
pub enum NotSent {
    /// A parameter breaks a rule or a documented limit: permanent, the action is dead.
    Invalid(String),
    /// Not configured to run (no API key, no webhook URL): recorded as skipped.
    Skip(String),
    /// A DM with no Scrapely conversation to go into: skipped, and its rule's
    /// cooldown given back (nobody was contacted).
    NoConversation(String),
    /// The shared rate-limit budget is spent: try again after this long.
    Wait(Duration),
    /// A lookup the request needs failed; retried or dead like the call itself.
    LookupFailed(Box<outbound::Answer>),
    /// What the action acts on is not there yet (a cancel whose tweet is still
    /// being scheduled): look again after this long, no attempt spent; the
    /// reason is logged.
    Later(Duration, String),
    /// Nothing left to do (a cancel whose tweet is already posted, failed or
    /// cancelled, or was never scheduled): recorded as skipped, with the reason.
    Nothing(String),
}

impl From<Lookup> for NotSent {
    fn from(lookup: Lookup) -> Self {
        match lookup {
            Lookup::Wait(d) => NotSent::Wait(d),
            Lookup::Failed(answer) => NotSent::LookupFailed(answer),
        }
    }
}

/// What an action kind needs to build its request.
pub struct Context<'a> {
    pub store: &'a Store,
    pub client: &'a reqwest::Client,
    pub scrapely: Option<&'a Scrapely>,
    pub slack_url: Option<&'a Secret>,
    /// Resolves `«secret:…»` / `«literal:…»` markers when the request is built.
    pub vault: &'a crate::secret::marker::Vault,
    pub timeout: Duration,
    /// The budget slot of the read this call needs first was taken already
    /// (see `store::outbox::FastClaim::read_paid`).
    pub read_paid: bool,
}

impl Context<'_> {
    fn scrapely(&self) -> Result<&Scrapely, NotSent> {
        self.scrapely
            .ok_or_else(|| NotSent::Skip("no scrapely.api_key configured".into()))
    }
}

/// Builds the request of action `action_id` of `kind` from its rendered parameters.
pub async fn prepare(
    ctx: &Context<'_>,
    action_id: i64,
    kind: ActionKind,
    params: &serde_json::Value,
) -> Result<outbound::Outbound, NotSent> {
    let mut request = prepare_kind(ctx, action_id, kind, params).await?;
    // Stored parameters carry markers; the request gets the values, its
    // recorded copy keeps the markers. A missing one is permanent: never sent without it.
    request
        .reveal(ctx.vault)
        .map_err(|e| NotSent::Invalid(e.to_string()))?;
    if !(request.url.starts_with("https://") || request.url.starts_with("http://")) {
        return Err(NotSent::Invalid(match kind {
            // The whole Slack URL is the credential: not even its recorded form.
            ActionKind::SlackPost => "`webhook_url` is not an http(s) URL".to_string(),
            _ => format!("`url` `{}` is not an http(s) URL", request.recorded_url),
        }));
    }
    Ok(request)
}

async fn prepare_kind(
    ctx: &Context<'_>,
    action_id: i64,
    kind: ActionKind,
    params: &serde_json::Value,
) -> Result<outbound::Outbound, NotSent> {
    match kind {
        ActionKind::SendDm => send_dm::prepare(ctx, params).await,
        ActionKind::UpdateCrm => update_crm::prepare(ctx, params).await,
        ActionKind::ScheduleTweet => schedule_tweet::prepare(ctx, params).await,
        ActionKind::CancelScheduledTweet => schedule_tweet::prepare_cancel(ctx, params).await,
        ActionKind::SlackPost => slack::prepare(ctx, params),
        ActionKind::HttpRequest => http_request::prepare(ctx, action_id, params),
        // Runs inside Starling (the executor's `do_not_contact`), never as a call.
        ActionKind::DoNotContact => Err(NotSent::Invalid(
            "starling.do_not_contact makes no call".into(),
        )),
    }
}

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

/// Fixes what must not drift between creation and a late retry (relative times).
pub fn normalize(kind: ActionKind, params: &mut serde_json::Value, now: time::OffsetDateTime) {
    if kind == ActionKind::ScheduleTweet {
        schedule_tweet::fix_relative_time(params, now);
    }
}

/// `account_id` as given, or the id of the `account` handle.
async fn account_id(ctx: &Context<'_>, params: &serde_json::Value) -> Result<String, NotSent> {
    if let Some(id) = params::optional_text(params, "account_id")? {
        return Ok(id.to_string());
    }
    Ok(account(ctx, params).await?.id)
}

/// The account an action acts for: `account_id`, or the `account` handle,
/// both checked against `GET /accounts` (cached).
async fn account(
    ctx: &Context<'_>,
    params: &serde_json::Value,
) -> Result<scrapely::Account, NotSent> {
    let scrapely = ctx.scrapely()?;
    if let Some(id) = params::optional_text(params, "account_id")? {
        return scrapely
            .account_by_id(ctx.store, ctx.client, id, ctx.timeout)
            .await?
            .ok_or_else(|| {
                NotSent::Invalid(format!(
                    "Scrapely has no account with id {id}; expected one of the ids GET /accounts lists"
                ))
            });
    }
    let handle = params::optional_text(params, "account")?.ok_or_else(|| {
        NotSent::Invalid("no account: give `account` (a handle) or `account_id`".into())
    })?;
    scrapely
        .account_by_handle(ctx.store, ctx.client, handle, ctx.timeout)
        .await?
        .ok_or_else(|| {
            NotSent::Invalid(format!(
                "Scrapely has no account @{}; expected one of the handles GET /accounts lists",
                handle.trim_start_matches('@')
            ))
        })
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
