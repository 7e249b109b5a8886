//! The rules playground: paste an event (a Scrapely webhook body or
//! `{kind, data}`, as `starling rules test --event` takes) or pick a stored one
//! by id, and see every loaded rule's verdict — matched with its rendered
//! actions (credentials as markers, never in clear), or why not — and the
//! reply intent with its evidence. The verdicts are `rules test`'s own
//! (`cli::rules::verdicts`, `trial_json`); nothing is stored or sent.
//!
//! The POST changes nothing but is checked like every POST (CSRF, Origin). Its
//! body is read up to [`FORM_MAX`] by hand, so an oversized, broken or
//! wrong-shaped input is a message on the page saying what was expected,
//! never a bare error.

use super::Console;
use super::buttons::refused;
use super::pages::{database_failure, page};
use crate::cli::stored_event::Reader;
use crate::rules::EventContext;
use crate::rules::testing::sample_context;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::{Value, context};

/// The largest pasted event (its JSON text).
pub const EVENT_MAX: usize = 256 * 1024;
/// The largest form body read: an event at [`EVENT_MAX`] with room for its
/// URL-encoding (mostly ASCII JSON grows by well under 3x).
pub const FORM_MAX: usize = 3 * EVENT_MAX;

const EXPECTED: &str = "expected a Scrapely webhook body {\"event\", \"timestamp\", \"data\"} \
                        or {\"kind\", \"data\"}, as `starling rules test --event` takes";

/// The playground's fields, as typed (shown back with the verdicts).
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
pub struct Tried {
    #[serde(default, skip_serializing)]
    csrf: String,
    /// A pasted event's JSON.
    #[serde(default)]
    event: String,
    /// Or a stored event's id.
    #[serde(default)]
    event_id: String,
    /// Empty: every rule.
    #[serde(default)]
    rule: String,
}

/// The form; with an `event_id` (the event page's "why not" link) or an `event`
/// in the query, the verdicts too: trying an event only reads, so a link may.
pub async fn form(
    State(console): State<Console>,
    headers: HeaderMap,
    Query(picked): Query<Tried>,
) -> Response {
    if picked.event.trim().is_empty() && picked.event_id.trim().is_empty() {
        let status = StatusCode::OK;
        return shown(&console, &headers, status, &picked, Ok(Value::UNDEFINED));
    }
    trial(&console, &headers, &picked).await
}

pub async fn try_it(State(console): State<Console>, headers: HeaderMap, body: Body) -> Response {
    let bytes = match axum::body::to_bytes(body, FORM_MAX).await {
        Ok(bytes) => bytes,
        Err(_) => {
            let why = format!(
                "The form is over {} KiB: the playground takes an event of at most {} KiB.",
                FORM_MAX / 1024,
                EVENT_MAX / 1024
            );
            let status = StatusCode::PAYLOAD_TOO_LARGE;
            return shown(&console, &headers, status, &Tried::default(), Err(why));
        }
    };
    let Ok(tried) = serde_urlencoded::from_bytes::<Tried>(&bytes) else {
        let why = "The form could not be read: expected the fields event, event_id and rule, URL-encoded.";
        let status = StatusCode::BAD_REQUEST;
        return shown(
            &console,
            &headers,
            status,
            &Tried::default(),
            Err(why.into()),
        );
    };
    if let Some(refusal) = refused(&console, &headers, &tried.csrf) {
        return refusal;
    }
    trial(&console, &headers, &tried).await
}

/// The verdicts of the loaded rules (or the one named) on the event tried.
async fn trial(console: &Console, headers: &HeaderMap, tried: &Tried) -> Response {
    let ctx = match context_of(console, tried).await {
        Ok(Ok(ctx)) => ctx,
        Ok(Err((status, why))) => return shown(console, headers, status, tried, Err(why)),
        Err(e) => return database_failure(console, headers, e.into()),
    };
    let set = console.rules.current();
    let only = Some(tried.rule.trim()).filter(|r| !r.is_empty());
    if let Some(name) = only
        && set.rule(name).is_none()
    {
        let why = format!("There is no loaded rule named `{name}`.");
        return shown(console, headers, StatusCode::NOT_FOUND, tried, Err(why));
    }
    let verdicts = crate::cli::rules::verdicts(&set, &ctx, only);
    let trial = crate::cli::rules::trial_json(&ctx, &verdicts);
    let result = context! {
        kind => ctx.kind.clone(),
        trial => Value::from_serialize(&trial),
        actions => Value::from_serialize(pretty_actions(&trial)),
    };
    shown(console, headers, StatusCode::OK, tried, Ok(result))
}

type Refusal = (StatusCode, String);

/// The event to try: the pasted one, or the stored one picked by id.
async fn context_of(
    console: &Console,
    tried: &Tried,
) -> Result<Result<EventContext, Refusal>, crate::store::audit::AuditError> {
    let (event, id) = (tried.event.trim(), tried.event_id.trim());
    let bad = |why: String| Ok(Err((StatusCode::BAD_REQUEST, why)));
    match (event.is_empty(), id.is_empty()) {
        (true, true) => bad(format!(
            "Paste an event's JSON or give a stored event's id: {EXPECTED}."
        )),
        (false, false) => {
            bad("Give either a pasted event or a stored event's id, not both.".into())
        }
        (false, true) if event.len() > EVENT_MAX => Ok(Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "The event is {} KiB: the playground takes at most {} KiB.",
                event.len() / 1024,
                EVENT_MAX / 1024
            ),
        ))),
        (false, true) => match serde_json::from_str(event) {
            Err(e) => bad(format!("The event is not JSON ({e}): {EXPECTED}.")),
            Ok(json) => match sample_context(&json) {
                Ok(ctx) => Ok(Ok(ctx)),
                Err(why) => bad(format!("The event's JSON has the wrong shape: {why}.")),
            },
        },
        (true, false) => {
            let Ok(id) = id.parse::<i64>() else {
                return bad(format!(
                    "The event id `{id}` is not a number: expected a stored event's id (see Events)."
                ));
            };
            match crate::cli::stored_event::read(Reader::Store(&console.store), id).await? {
                Some(stored) => Ok(Ok(stored.context())),
                None => Ok(Err((
                    StatusCode::NOT_FOUND,
                    format!("There is no stored event {id}."),
                ))),
            }
        }
    }
}

/// Each matched rule's rendered actions with their parameters as indented
/// JSON, by rule name (the template shows them under the rule).
fn pretty_actions(trial: &serde_json::Value) -> Vec<Vec<(String, String)>> {
    let rules = trial["rules"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    rules
        .iter()
        .map(|r| {
            let actions = r["actions"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            actions
                .iter()
                .map(|a| {
                    let name = a["action"].as_str().unwrap_or_default().to_string();
                    let params = serde_json::to_string_pretty(&a["params"]).unwrap_or_default();
                    (name, params)
                })
                .collect()
        })
        .collect()
}

fn shown(
    console: &Console,
    headers: &HeaderMap,
    status: StatusCode,
    tried: &Tried,
    result: Result<Value, String>,
) -> Response {
    let set = console.rules.current();
    let names: Vec<&str> = set.rules.iter().map(|r| r.name.as_str()).collect();
    let (result, problem) = match result {
        Ok(result) => (result, String::new()),
        Err(problem) => (Value::UNDEFINED, problem),
    };
    let mut response = page(
        console,
        headers,
        "playground.html",
        "rules",
        context! {
            form => Value::from_serialize(tried),
            rules => names,
            result => result,
            problem => problem,
            event_max_kib => EVENT_MAX / 1024,
        },
    );
    *response.status_mut() = status;
    response
}
