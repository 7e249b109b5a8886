//! What a listener reachable from other machines demands: webhook
//! authentication that cannot be guessed, and a Bearer token (`server.ops_token`)
//! for the operational endpoints `/readyz` and `/metrics`, which show paths,
//! counts and stream errors. `/healthz` stays open. On a loopback listener none
//! of this applies: only this machine can connect.

use crate::config::Settings;
use crate::secret::Secret;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use subtle::ConstantTimeEq;

/// Shortest token accepted on a public listener (24 characters of
/// `openssl rand -hex 24` carry 96 bits, its 48 carry 192).
pub const MIN_TOKEN_CHARS: usize = 24;

/// Values the shipped examples use, which must never guard a public port.
const PLACEHOLDERS: &[&str] = &[
    "change-me-to-a-long-random-token",
    "a-long-random-token",
    "another-long-random-token",
    "a-third-long-random-token",
];

/// Why a token cannot guard a public listener, if it cannot.
pub fn weakness(token: &str) -> Option<String> {
    let lower = token.to_ascii_lowercase();
    if PLACEHOLDERS.contains(&lower.as_str())
        || lower.starts_with("change-me")
        || lower.starts_with("changeme")
    {
        return Some("is the placeholder from the example files".into());
    }
    let chars = token.chars().count();
    if chars < MIN_TOKEN_CHARS {
        return Some(format!(
            "has {chars} characters; at least {MIN_TOKEN_CHARS} are required"
        ));
    }
    None
}

/// Refuses to start a listener on `addr` that other machines can reach with
/// webhooks anyone could post to, or tokens anyone could guess.
pub fn check_listener(settings: &Settings, addr: SocketAddr) -> anyhow::Result<()> {
    if addr.ip().is_loopback() {
        return Ok(());
    }
    let vendors = settings.webhooks.vendors();
    if !settings.webhooks.allow_unauthenticated
        && !vendors.iter().any(|(_, auth)| auth.is_authenticated())
    {
        // A vendor without authentication is refused per request (403) on such a
        // listener; with none at all, nothing could ever be received.
        anyhow::bail!(
            "refusing to listen on {addr} with unauthenticated webhooks: set webhooks.scrapely.token \
             (or webhooks.scrapely.signing_secret, or the same for scrapest / scrapebadger), listen on \
             a loopback address, or set webhooks.allow_unauthenticated = true"
        );
    }
    let tokens = vendors
        .iter()
        .filter_map(|(vendor, auth)| {
            auth.token
                .as_ref()
                .map(|t| (format!("webhooks.{vendor}.token"), t))
        })
        .chain(
            settings
                .server
                .ops_token
                .as_ref()
                .map(|t| ("server.ops_token".to_string(), t)),
        )
        .chain(
            settings
                .console
                .admin_token
                .as_ref()
                .map(|t| ("console.admin_token".to_string(), t)),
        );
    for (key, token) in tokens {
        if let Some(why) = weakness(token.expose()) {
            anyhow::bail!(
                "refusing to listen on {addr}: {key} {why}; anyone who guesses it can post to or read \
                 Starling. Generate one with `openssl rand -hex 24`"
            );
        }
    }
    if settings.console.enabled && settings.console.admin_token.is_none() {
        anyhow::bail!(
            "refusing to listen on {addr} with the console open to anyone: set console.admin_token \
             (the console's login; generate one with `openssl rand -hex 24`), listen on a loopback \
             address, or set console.enabled = false"
        );
    }
    Ok(())
}

/// Who may read `/readyz` and `/metrics`.
#[derive(Clone)]
pub enum OpsAccess {
    /// A loopback listener, or `server.public_ops = true`.
    Open,
    /// `Authorization: Bearer <server.ops_token>`.
    Token(Secret),
    /// A public listener without an ops token: nobody, with a message saying why.
    Closed,
}

impl OpsAccess {
    pub fn for_listener(settings: &Settings, addr: SocketAddr) -> Self {
        if addr.ip().is_loopback() || settings.server.public_ops {
            return OpsAccess::Open;
        }
        match &settings.server.ops_token {
            Some(token) => OpsAccess::Token(token.clone()),
            None => OpsAccess::Closed,
        }
    }
}

/// Middleware in front of the operational endpoints.
pub async fn require_ops_access(
    State(access): State<OpsAccess>,
    request: Request,
    next: Next,
) -> Response {
    match &access {
        OpsAccess::Open => next.run(request).await,
        OpsAccess::Token(token) if bearer_matches(request.headers(), token) => {
            next.run(request).await
        }
        OpsAccess::Token(_) => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            axum::Json(serde_json::json!({
                "error": "unauthorized",
                "detail": "expected Authorization: Bearer <server.ops_token>",
            })),
        )
            .into_response(),
        OpsAccess::Closed => (
            StatusCode::FORBIDDEN,
            axum::Json(serde_json::json!({
                "error": "forbidden",
                "detail": "this listener is reachable from other machines: set server.ops_token \
                           (then send it as a Bearer token) or server.public_ops = true",
            })),
        )
            .into_response(),
    }
}

fn bearer_matches(headers: &HeaderMap, token: &Secret) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| bool::from(given.trim().as_bytes().ct_eq(token.expose().as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_placeholder_tokens_are_weak() {
        assert!(weakness("x").unwrap().contains("1 characters"));
        assert!(
            weakness("change-me-to-a-long-random-token")
                .unwrap()
                .contains("placeholder")
        );
        assert!(weakness("CHANGE-ME-please-0123456789abcdef").is_some());
        assert_eq!(weakness("3f9a1c0e5b7d2a4c6e8f0a1b3c5d7e9f"), None);
    }
}
