//! The web console: `starling serve` answers at `/` with server-rendered pages
//! (minijinja templates and static files compiled into the binary) to see what
//! Starling did and fix it — events, their rules' decisions, actions and every
//! attempt, paused accounts — without SQL.
//!
//! Reading works without JavaScript; the one script (`static/console.js`) only
//! adds the events list's live tail. Who may use it and the CSRF, Origin and
//! header rules are [`security`]'s; the SQL is [`queries`]'; the pages are
//! [`pages`]', the buttons and the login [`buttons`]'. Buttons do exactly what the CLI does
//! (`store::lifecycle::retry`/`cancel`, `store::accounts::resume_account`,
//! `quarantine replay`). The overview's charts are [`charts`]' data drawn by
//! [`plot`], read from the hourly rollup that [`rollup`] keeps current. The
//! rules page and its backtest are [`rules_page`]' (its counts [`rule_stats`]'),
//! the playground [`playground`]', the quarantine [`quarantine_page`]'.

mod buttons;
pub mod charts;
mod overview;
mod pages;
mod playground;
mod plot;
mod quantile;
mod quarantine_page;
pub mod queries;
pub mod rollup;
pub mod rule_stats;
mod rules_page;
pub mod security;

use crate::rules::reload::RulesHandle;
use crate::secret::Secret;
use crate::store::Store;
use crate::store::writer::WeakWriter;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use minijinja::Environment;
use security::Gate;
use std::sync::Arc;

/// What every console page needs.
#[derive(Clone)]
pub struct Console {
    store: Store,
    rules: RulesHandle,
    gate: Gate,
    templates: Arc<Environment<'static>>,
    /// The server's writer, for "Ingest again" (weak: ingestion still ends on shutdown).
    writer: WeakWriter,
    /// Every configured credential: masked in a quarantined body shown.
    credentials: Arc<[Secret]>,
    /// What "now" is for the charts' windows.
    clock: crate::clock::Clock,
    /// The rolled hours the charts have read (final, so read once).
    hours: crate::store::hourly::Cache,
}

impl Console {
    /// `admin_token`: the login's, `None` on a loopback listener; `writer`:
    /// ingestion's; `credentials`: what no page may show (`quarantine::credentials`).
    pub fn new(
        store: Store,
        rules: RulesHandle,
        admin_token: Option<Secret>,
        writer: WeakWriter,
        credentials: Vec<Secret>,
    ) -> Self {
        Self {
            store,
            rules,
            gate: Gate::new(admin_token),
            templates: Arc::new(templates()),
            writer,
            credentials: credentials.into(),
            clock: crate::clock::Clock::System,
            hours: Default::default(),
        }
    }

    /// The clock the charts' windows end at (the server's; tests fix it).
    pub fn with_clock(self, clock: crate::clock::Clock) -> Self {
        Self { clock, ..self }
    }

    /// The console's routes, guarded (login, security headers).
    pub fn router(self) -> Router {
        let gate = self.gate.clone();
        Router::new()
            .route("/", get(overview::overview))
            .route("/charts/{file}", get(overview::chart))
            .route("/events", get(pages::events))
            .route("/events/tail", get(pages::tail))
            .route("/events/{id}", get(pages::event))
            .route("/actions", get(pages::actions))
            .route("/actions/{id}", get(pages::action))
            .route("/actions/{id}/retry", post(buttons::retry))
            .route("/actions/{id}/cancel", post(buttons::cancel))
            .route("/accounts", get(pages::accounts))
            .route("/accounts/resume", post(buttons::resume))
            .route("/rules", get(rules_page::rules))
            .route("/rules/backtest", post(rules_page::backtest))
            .route(
                "/rules/playground",
                get(playground::form).post(playground::try_it),
            )
            .route("/quarantine", get(quarantine_page::list))
            .route("/quarantine/{id}", get(quarantine_page::one))
            .route("/quarantine/{id}/ingest", post(quarantine_page::ingest))
            .route("/login", get(buttons::login_form).post(buttons::login))
            .route("/logout", post(buttons::logout))
            .route("/static/console.css", get(css))
            .route("/static/console.js", get(js))
            .with_state(self)
            .layer(axum::middleware::from_fn_with_state(gate, security::guard))
    }

    /// Renders `name` with `context` (autoescaped HTML).
    fn render(&self, name: &str, context: minijinja::Value) -> Response {
        match self
            .templates
            .get_template(name)
            .and_then(|t| t.render(context))
        {
            Ok(html) => Html(html).into_response(),
            Err(error) => {
                tracing::error!(%error, template = name, "Console template failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the page could not be rendered",
                )
                    .into_response()
            }
        }
    }
}

fn templates() -> Environment<'static> {
    let mut env = Environment::new();
    for (name, source) in [
        ("base.html", include_str!("templates/base.html")),
        ("overview.html", include_str!("templates/overview.html")),
        ("events.html", include_str!("templates/events.html")),
        ("event.html", include_str!("templates/event.html")),
        ("actions.html", include_str!("templates/actions.html")),
        ("action.html", include_str!("templates/action.html")),
        ("accounts.html", include_str!("templates/accounts.html")),
        ("login.html", include_str!("templates/login.html")),
        ("message.html", include_str!("templates/message.html")),
        ("rules.html", include_str!("templates/rules.html")),
        ("backtest.html", include_str!("templates/backtest.html")),
        (
            "backtest_form.html",
            include_str!("templates/backtest_form.html"),
        ),
        ("playground.html", include_str!("templates/playground.html")),
        ("quarantine.html", include_str!("templates/quarantine.html")),
        (
            "quarantined.html",
            include_str!("templates/quarantined.html"),
        ),
    ] {
        env.add_template(name, source)
            .expect("the console's templates parse (a unit test renders each)");
    }
    env
}

async fn css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("static/console.css"),
    )
}

async fn js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("static/console.js"),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_template_parses() {
        let env = super::templates();
        assert!(env.get_template("action.html").is_ok());
    }
}
