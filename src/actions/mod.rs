//! Actions: what rules make Starling do, one module per kind.
//!
//! [`crate::catalog`] declares each kind's parameters, so `rules check` validates
//! every action of every rule (unknown action, unknown or missing parameter,
//! literal of the wrong type). At run time each kind's module turns rendered parameters into
//! one [`outbound::Outbound`] request or says why it cannot ([`NotSent`]);
//! [`executor`] owns everything around the call: claiming, attempts, retries,
//! rate limits, holds and reconciliation.

pub mod accounts;
mod call;
mod call_slot;
mod conclude;
pub mod do_not_contact;
pub mod executor;
pub mod fast_path;
pub mod http_request;
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

pub use crate::catalog::{
    ActionKind, ActionSpec, CATALOG, ParamKind, ParamSpec, account_of, names, normalize, spec,
};
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
