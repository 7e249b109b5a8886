//! The HTTP surface `starling serve` answers on: health, the operator routes
//! (`/readyz`, `/metrics`: open on loopback or with `server.public_ops`, else
//! behind `server.ops_token`), the webhooks and, when enabled, the console; every
//! request logged by its route pattern.

use crate::clock::Clock;
use crate::config::Settings;
use crate::http::health;
use crate::store::writer::WeakWriter;
use crate::webhooks::{self, WebhookState};
use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use std::net::SocketAddr;
use std::time::Instant;

/// What the routes are built from.
pub(super) struct Parts<'a> {
    pub settings: &'a Settings,
    pub addr: SocketAddr,
    pub clock: Clock,
    pub ready: health::Ready,
    pub webhooks: WebhookState,
    pub console_writer: WeakWriter,
}

pub(super) fn assemble(parts: Parts<'_>) -> Router {
    let Parts {
        settings,
        addr,
        clock,
        ready,
        webhooks: webhook_state,
        console_writer,
    } = parts;
    let store = ready.store.clone();
    let rules = ready.rules.clone();
    let ops_access = crate::http::exposure::OpsAccess::for_listener(settings, addr);
    let ops = Router::new()
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(crate::http::metrics::metrics))
        .route_layer(middleware::from_fn_with_state(
            ops_access,
            crate::http::exposure::require_ops_access,
        ));
    let router = Router::new()
        .route("/healthz", get(health::healthz))
        .merge(ops)
        .with_state(ready)
        .merge(webhooks::router(webhook_state));
    let router = match settings.console.enabled {
        // On loopback nobody but this machine connects: no login.
        true => router.merge(
            crate::console::Console::new(
                store.clone(),
                rules.clone(),
                settings
                    .console
                    .admin_token
                    .clone()
                    .filter(|_| !addr.ip().is_loopback()),
                console_writer,
                crate::cli::quarantine::credentials(settings),
            )
            .with_clock(clock)
            .router(),
        ),
        false => router,
    };
    router.layer(middleware::from_fn(log_request))
}

/// Logs each request by its route pattern, never its URI (webhook URIs hold tokens).
async fn log_request(request: Request, next: Next) -> Response {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return next.run(request).await;
    }
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "<unmatched>".into());
    let method = request.method().clone();
    let started = Instant::now();
    let response = next.run(request).await;
    tracing::debug!(
        %method,
        route,
        status = response.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "Request served"
    );
    response
}
