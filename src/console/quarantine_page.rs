//! The quarantine pages: the authentic payloads Starling could not read (a page
//! of rows, keyset by id like the events list), one payload with its reason and
//! its body (credentials masked as `quarantine show` masks them, indented when
//! it is JSON, escaped always), and "Ingest again", which is
//! `starling quarantine replay ID` (`cli::quarantine::replay_one`) through this
//! server's own writer: its rules fire once, and a second press finds the row
//! replayed already (or, racing, the event stored already) and stores nothing.

use super::Console;
use super::buttons::{back_to, refused};
use super::pages::{Id, Notice, database_failure, failure, page};
use crate::cli::quarantine::{self, Replay};
use crate::store::quarantine::{Kept, Which};
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::{Value, context};

#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
pub struct Paging {
    pub before: Option<i64>,
}

pub async fn list(
    State(console): State<Console>,
    headers: HeaderMap,
    Query(paging): Query<Paging>,
) -> Response {
    match super::queries::quarantine(&console.store, paging.before).await {
        Ok(rows) => {
            let next = (rows.len() == super::queries::PAGE as usize)
                .then(|| rows.last().and_then(|r| r["id"].as_i64()))
                .flatten()
                .map(|last| format!("/quarantine?before={last}"));
            page(
                &console,
                &headers,
                "quarantine.html",
                "quarantine",
                context! { rows => rows, next => next, paged => paging.before.is_some() },
            )
        }
        Err(e) => database_failure(&console, &headers, e),
    }
}

async fn kept(console: &Console, id: i64) -> Result<Option<Kept>, sqlx::Error> {
    Ok(
        crate::store::quarantine::read(&console.store, Which::One(id))
            .await?
            .pop(),
    )
}

fn not_found(console: &Console, headers: &HeaderMap, id: i64) -> Response {
    failure(
        console,
        headers,
        StatusCode::NOT_FOUND,
        "No such quarantined payload",
        &format!("There is no quarantine row #{id}."),
    )
}

pub async fn one(
    State(console): State<Console>,
    headers: HeaderMap,
    Id(id): Id,
    Query(notice): Query<Notice>,
) -> Response {
    let kept = match kept(&console, id).await {
        Ok(Some(kept)) => kept,
        Ok(None) => return not_found(&console, &headers, id),
        Err(e) => return database_failure(&console, &headers, e.into()),
    };
    let body = quarantine::masked_body(&kept, &console.credentials).map(|text| {
        // Indented when it is JSON; masked again after, as the indenting re-escapes.
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(json) => crate::secret::marker::mask_literals(
                &serde_json::to_string_pretty(&json).unwrap_or(text),
                &console.credentials,
            ),
            Err(_) => text,
        }
    });
    page(
        &console,
        &headers,
        "quarantined.html",
        "quarantine",
        context! {
            row => Value::from_serialize(&kept),
            state => quarantine::state(&kept),
            bytes => kept.body.len(),
            body => body,
            notice => notice.notice,
        },
    )
}

/// "Ingest again": what `starling quarantine replay ID` does, with the outcome.
pub async fn ingest(
    State(console): State<Console>,
    headers: HeaderMap,
    Id(id): Id,
    Form(form): Form<super::buttons::Csrf>,
) -> Response {
    if let Some(refusal) = refused(&console, &headers, form.token()) {
        return refusal;
    }
    let kept = match kept(&console, id).await {
        Ok(Some(kept)) => kept,
        Ok(None) => return not_found(&console, &headers, id),
        Err(e) => return database_failure(&console, &headers, e.into()),
    };
    let Some(writer) = console.writer.upgrade() else {
        return failure(
            &console,
            &headers,
            StatusCode::SERVICE_UNAVAILABLE,
            "Starling is stopping",
            "Ingestion has stopped; run `starling quarantine replay` once it is up again.",
        );
    };
    match quarantine::replay_one(&writer, &console.store, &kept).await {
        Ok(replay) => {
            tracing::info!(
                quarantine = id,
                outcome = replay.outcome(&kept).0,
                "Quarantined payload ingested again from the console"
            );
            back_to(&format!("/quarantine/{id}"), &said(&replay, &kept))
        }
        Err(e) => database_failure(&console, &headers, e),
    }
}

/// The outcome of a replay in words.
fn said(replay: &Replay, kept: &Kept) -> String {
    let (_, event, reason) = replay.outcome(kept);
    let event = event.map(|e| e.to_string()).unwrap_or_else(|| "–".into());
    match replay {
        Replay::Done(crate::store::quarantine::Replayed::Event(_)) => {
            format!("Ingested again: stored as event {event}; its rules ran once.")
        }
        Replay::Sighting(_) => format!(
            "Ingested again: event {event} was stored already, so this is one more sighting of it (nothing new fired)."
        ),
        Replay::Done(crate::store::quarantine::Replayed::NoEvent) => {
            "Read, but it carries no event: nothing was stored.".into()
        }
        Replay::Done(crate::store::quarantine::Replayed::Refused(_)) => {
            format!("Still refused: {}", reason.unwrap_or_default())
        }
        Replay::Already => {
            format!("Replayed before (event {event}): left as it is, nothing stored again.")
        }
    }
}
