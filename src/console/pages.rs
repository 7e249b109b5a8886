//! The console's pages: each GET renders a template with what [`super::queries`]
//! read (the buttons are [`super::buttons`]'), and the events' live tail.

use super::Console;
use super::queries::{self, ActionFilter, EventFilter};
use super::security;
use crate::store::lifecycle::{self, Event};
use crate::store::status::ActionStatus;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use minijinja::{Value, context};
use std::time::Duration;

/// A page: `template` with `extra`, the nav's `page`, and this browser's CSRF
/// token (its cookie set if it had none).
pub(super) fn page(
    console: &Console,
    headers: &HeaderMap,
    template: &str,
    name: &str,
    extra: Value,
) -> Response {
    let (csrf, set_cookie) = security::csrf_token(headers);
    let context = context! {
        page => name,
        csrf => csrf,
        login => console.gate.needs_login(),
        ..extra
    };
    let mut response = console.render(template, context);
    if let Some(cookie) = set_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

pub(super) fn failure(
    console: &Console,
    headers: &HeaderMap,
    status: StatusCode,
    heading: &str,
    message: &str,
) -> Response {
    let mut response = page(
        console,
        headers,
        "message.html",
        "",
        context! { heading => heading, message => message },
    );
    *response.status_mut() = status;
    response
}

/// A numeric id from the path (`/events/{id}`, `/actions/{id}/retry`, …); any
/// other text gets the console's own 400 page, saying what was expected.
pub(super) struct Id(pub i64);

impl axum::extract::FromRequestParts<Console> for Id {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        console: &Console,
    ) -> Result<Self, Response> {
        match Path::<i64>::from_request_parts(parts, console).await {
            Ok(Path(id)) => Ok(Id(id)),
            Err(_) => Err(failure(
                console,
                &parts.headers,
                StatusCode::BAD_REQUEST,
                "Not an id",
                &format!(
                    "{} names no id: expected a number where the id goes, as in /events/12.",
                    parts.uri.path()
                ),
            )),
        }
    }
}

pub(super) fn database_failure(
    console: &Console,
    headers: &HeaderMap,
    error: anyhow::Error,
) -> Response {
    tracing::warn!(error = %format!("{error:#}"), "Console read failed");
    failure(
        console,
        headers,
        StatusCode::SERVICE_UNAVAILABLE,
        "The database did not answer",
        "The page could not be read from the database; try again in a moment.",
    )
}

pub async fn events(
    State(console): State<Console>,
    headers: HeaderMap,
    filter: Result<Query<EventFilter>, QueryRejection>,
) -> Response {
    let filter = match filter {
        Ok(Query(filter)) => filter,
        Err(rejection) => return bad_query(&console, &headers, &rejection),
    };
    match queries::events(&console.store, &filter).await {
        Ok(listed) => {
            let next = next_page("/events", &filter, &listed, |f, before| {
                f.before = Some(before)
            });
            let filtered = !(filter.kind.is_empty()
                && filter.source.is_empty()
                && filter.intent.is_empty()
                && filter.q.is_empty());
            page(
                &console,
                &headers,
                "events.html",
                "events",
                context! {
                    events => listed.rows,
                    next => next,
                    searched => listed.searched,
                    window => queries::window(&console.store),
                    search_older => listed.searched.is_some() && (listed.rows.len() as i64) < queries::PAGE,
                    filtered => filtered,
                    live => !filtered && filter.before.is_none(),
                    filter => Value::from_serialize(&filter),
                },
            )
        }
        Err(e) => database_failure(&console, &headers, e),
    }
}

/// A list's query string that does not parse (a hand-edited `before=abc`):
/// the console's own page, saying what was expected.
fn bad_query(console: &Console, headers: &HeaderMap, rejection: &QueryRejection) -> Response {
    failure(
        console,
        headers,
        StatusCode::BAD_REQUEST,
        "This page's address is not one the console reads",
        &format!(
            "{}. `before` takes an id, a whole number (the \"Older\" link at the bottom \
             of a page gives it); the other filters take text.",
            rejection.body_text()
        ),
    )
}

/// The link to the page after `listed`, if there is one.
fn next_page<F: serde::Serialize + Clone>(
    path: &str,
    filter: &F,
    listed: &queries::Listed,
    set_before: impl Fn(&mut F, i64),
) -> Option<String> {
    let mut next = filter.clone();
    set_before(&mut next, listed.next_before()?);
    serde_urlencoded::to_string(&next)
        .ok()
        .map(|q| format!("{path}?{q}"))
}

pub async fn event(State(console): State<Console>, headers: HeaderMap, Id(id): Id) -> Response {
    match queries::event(&console.store, id).await {
        Ok(Some(found)) => {
            let payload = pretty(&found["event"]["payload"]);
            let channels = listed(&found["event"]["channels"]);
            page(
                &console,
                &headers,
                "event.html",
                "events",
                context! {
                    event => Value::from_serialize(&found["event"]),
                    payload => payload,
                    channels => channels,
                    sightings => Value::from_serialize(&found["sightings"]),
                    matches => Value::from_serialize(&found["matches"]),
                    actions => Value::from_serialize(&found["actions"]),
                },
            )
        }
        Ok(None) => failure(
            &console,
            &headers,
            StatusCode::NOT_FOUND,
            "No such event",
            &format!("There is no event {id}."),
        ),
        Err(e) => database_failure(&console, &headers, e),
    }
}

/// A JSON column's value, whether stored as JSON (PostgreSQL) or as text (SQLite).
fn as_json(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::String(text) => serde_json::from_str(text).unwrap_or(value.clone()),
        other => other.clone(),
    }
}

/// A JSON array of names (`channels`) as "a, b".
fn listed(value: &serde_json::Value) -> String {
    let names: Vec<String> = match as_json(value) {
        serde_json::Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), String::from))
            .collect(),
        other => vec![other.to_string()],
    };
    names.join(", ")
}

/// JSON as indented text, whether stored as JSON (PostgreSQL) or as text (SQLite).
fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(&as_json(value)).unwrap_or_default()
}

pub async fn actions(
    State(console): State<Console>,
    headers: HeaderMap,
    filter: Result<Query<ActionFilter>, QueryRejection>,
) -> Response {
    let filter = match filter {
        Ok(Query(filter)) => filter,
        Err(rejection) => return bad_query(&console, &headers, &rejection),
    };
    match queries::actions(&console.store, &filter).await {
        Ok(listed) => {
            let next = next_page("/actions", &filter, &listed, |f, before| {
                f.before = Some(before)
            });
            let statuses: Vec<&str> = ActionStatus::ALL.iter().map(|s| s.as_str()).collect();
            page(
                &console,
                &headers,
                "actions.html",
                "actions",
                context! {
                    actions => listed.rows,
                    next => next,
                    searched => listed.searched,
                    window => queries::window(&console.store),
                    search_older => listed.searched.is_some() && (listed.rows.len() as i64) < queries::PAGE,
                    statuses => statuses,
                    filtered => !(filter.status.is_empty() && filter.rule.is_empty()),
                    filter => Value::from_serialize(&filter),
                },
            )
        }
        Err(e) => database_failure(&console, &headers, e),
    }
}

#[derive(serde::Deserialize)]
pub struct Notice {
    #[serde(default)]
    pub(super) notice: String,
}

pub async fn action(
    State(console): State<Console>,
    headers: HeaderMap,
    Id(id): Id,
    Query(notice): Query<Notice>,
) -> Response {
    match queries::action(&console.store, id).await {
        Ok(Some(found)) => {
            let status = found["action"]["status"].as_str().unwrap_or_default();
            let in_set = |event| lifecycle::from(event).iter().any(|s| s.as_str() == status);
            page(
                &console,
                &headers,
                "action.html",
                "actions",
                context! {
                    action => Value::from_serialize(&found["action"]),
                    params => pretty(&found["action"]["params"]),
                    attempts => Value::from_serialize(&found["attempts"]),
                    can_retry => in_set(Event::Retry),
                    can_cancel => in_set(Event::Cancel),
                    notice => notice.notice,
                },
            )
        }
        Ok(None) => failure(
            &console,
            &headers,
            StatusCode::NOT_FOUND,
            "No such action",
            &format!("There is no action {id}."),
        ),
        Err(e) => database_failure(&console, &headers, e),
    }
}

pub async fn accounts(
    State(console): State<Console>,
    headers: HeaderMap,
    Query(notice): Query<Notice>,
) -> Response {
    match queries::paused_accounts(&console.store).await {
        Ok(rows) => page(
            &console,
            &headers,
            "accounts.html",
            "accounts",
            context! { accounts => rows, notice => notice.notice },
        ),
        Err(e) => database_failure(&console, &headers, e),
    }
}

/// How often the live tail looks for new events.
const TAIL_EVERY: Duration = Duration::from_secs(1);

/// Server-sent events: each event stored after the tail started, as JSON. Read
/// from the database, so events another replica stored appear too.
pub async fn tail(State(console): State<Console>) -> impl IntoResponse {
    let start = queries::events(&console.store, &EventFilter::default())
        .await
        .ok()
        .and_then(|listed| listed.rows.first().and_then(|r| r["id"].as_i64()))
        .unwrap_or(0);
    let stream = futures::stream::unfold((console, start), |(console, after)| async move {
        loop {
            tokio::time::sleep(TAIL_EVERY).await;
            let Ok(rows) = queries::events_after(&console.store, after).await else {
                continue;
            };
            if let Some(last) = rows.last().and_then(|r| r["id"].as_i64()) {
                let events: Vec<Result<SseEvent, std::convert::Infallible>> = rows
                    .iter()
                    .map(|r| Ok(SseEvent::default().event("event").data(r.to_string())))
                    .collect();
                return Some((futures::stream::iter(events), (console, last)));
            }
        }
    });
    Sse::new(futures::StreamExt::flatten(stream)).keep_alive(KeepAlive::default())
}
