//! The console's buttons and its login: every POST checks its CSRF token and
//! Origin first ([`super::security::refuse_post`]), then does what the CLI's
//! command does and redirects back (303) with a notice.

use super::Console;
use super::pages::{Id, database_failure, failure, page};
use super::security::{self, SESSION_COOKIE, SESSION_TTL};
use crate::store::lifecycle;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use std::time::Duration;

#[derive(serde::Deserialize)]
pub struct Csrf {
    #[serde(default)]
    csrf: String,
}

impl Csrf {
    pub(super) fn token(&self) -> &str {
        &self.csrf
    }
}

/// Refuses a POST whose CSRF token or Origin is wrong (403, saying which).
pub(super) fn refused(console: &Console, headers: &HeaderMap, form: &str) -> Option<Response> {
    security::refuse_post(headers, form)
        .map(|why| failure(console, headers, StatusCode::FORBIDDEN, "Refused", why))
}

pub(super) fn back_to(path: &str, notice: &str) -> Response {
    let query = serde_urlencoded::to_string([("notice", notice)]).unwrap_or_default();
    Redirect::to(&format!("{path}?{query}")).into_response()
}

/// What `starling jobs retry ID` does: one new attempt series.
pub async fn retry(
    State(console): State<Console>,
    headers: HeaderMap,
    Id(id): Id,
    Form(form): Form<Csrf>,
) -> Response {
    if let Some(refusal) = refused(&console, &headers, &form.csrf) {
        return refusal;
    }
    match lifecycle::retry(&console.store, Some(id), None).await {
        Ok(ids) if !ids.is_empty() => {
            tracing::info!(action = id, "Action queued again from the console");
            back_to(
                &format!("/actions/{id}"),
                "Queued again: a new attempt series.",
            )
        }
        Ok(_) => back_to(
            &format!("/actions/{id}"),
            "Not retried: only dead, outcome_unknown, skipped or cancelled actions are.",
        ),
        Err(e) => database_failure(&console, &headers, e.into()),
    }
}

/// What `starling jobs cancel ID` does.
pub async fn cancel(
    State(console): State<Console>,
    headers: HeaderMap,
    Id(id): Id,
    Form(form): Form<Csrf>,
) -> Response {
    if let Some(refusal) = refused(&console, &headers, &form.csrf) {
        return refusal;
    }
    match lifecycle::cancel(&console.store, id, "cancelled by a person (console)").await {
        Ok(true) => {
            tracing::info!(action = id, "Action cancelled from the console");
            back_to(&format!("/actions/{id}"), "Cancelled: it will not be sent.")
        }
        Ok(false) => back_to(
            &format!("/actions/{id}"),
            "Not cancelled: it is no longer waiting.",
        ),
        Err(e) => database_failure(&console, &headers, e.into()),
    }
}

#[derive(serde::Deserialize)]
pub struct Resume {
    #[serde(default)]
    csrf: String,
    handle: String,
}

/// What `starling accounts resume HANDLE` does.
pub async fn resume(
    State(console): State<Console>,
    headers: HeaderMap,
    Form(form): Form<Resume>,
) -> Response {
    if let Some(refusal) = refused(&console, &headers, &form.csrf) {
        return refusal;
    }
    let handle = form.handle.trim_start_matches('@');
    match crate::store::accounts::resume_account(&console.store, handle).await {
        Ok(Some(n)) => back_to(
            "/accounts",
            &format!("@{handle} resumed; {n} held action(s) released."),
        ),
        Ok(None) => back_to("/accounts", &format!("@{handle} is not paused.")),
        Err(e) => database_failure(&console, &headers, e.into()),
    }
}

pub async fn login_form(State(console): State<Console>, headers: HeaderMap) -> Response {
    if !console.gate.needs_login() {
        return Redirect::to("/").into_response();
    }
    page(
        &console,
        &headers,
        "login.html",
        "",
        context! { notice => "" },
    )
}

#[derive(serde::Deserialize)]
pub struct Login {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
}

pub async fn login(
    State(console): State<Console>,
    headers: HeaderMap,
    Form(form): Form<Login>,
) -> Response {
    if let Some(refusal) = refused(&console, &headers, &form.csrf) {
        return refusal;
    }
    match console.gate.login(form.token.trim()) {
        Some(session) => {
            let mut response = Redirect::to("/").into_response();
            response.headers_mut().append(
                header::SET_COOKIE,
                security::strict_cookie(SESSION_COOKIE, &session, SESSION_TTL),
            );
            response
        }
        None => {
            tracing::warn!("Console login refused: wrong admin token");
            let mut response = page(
                &console,
                &headers,
                "login.html",
                "",
                context! { notice => "That is not console.admin_token." },
            );
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            response
        }
    }
}

pub async fn logout(
    State(console): State<Console>,
    headers: HeaderMap,
    Form(form): Form<Csrf>,
) -> Response {
    if let Some(refusal) = refused(&console, &headers, &form.csrf) {
        return refusal;
    }
    console.gate.logout(&headers);
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        security::strict_cookie(SESSION_COOKIE, "", Duration::ZERO),
    );
    response
}
