//! Inbound webhooks: authenticate, read (size-limited), normalize, commit, answer.
//!
//! The order is deliberate: the URL token is checked before the body is read; the
//! signature (when a signing secret is configured) before the body is parsed; and
//! the 2xx is sent only after the writer has committed the event. A body that is
//! authentic but cannot be understood is kept in the `quarantine` table and
//! answered 400/422 with what was wrong and what was expected.
//!
//! One module per vendor protocol holds its `normalize()`; this module holds the
//! flow they share.

//! | `POST /webhooks/scrapely[/{token}]` | Scrapely's `{event, timestamp, data}` |
//! | `POST /webhooks/scrapest[/{token}]` | Scrapest's SourceEvent (the streams' backup) |
//! | `POST /webhooks/scrapebadger[/{token}]` | ScrapeBadger's `tweet.detected` |

mod refusals;
pub mod signature;

use crate::clock::Clock;
use crate::config::{Settings, WebhookAuthSettings};
use crate::event::{CHANNEL_WEBHOOK, NewEvent};
use crate::http::ApiError;
use crate::secret::Secret;
use crate::sources;
use crate::store::quarantine::QuarantinedPayload;
use crate::store::writer::Writer;
use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::routing::post;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Serialize;
use signature::SigningKey;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

pub use crate::sources::Rejection;

/// The 2xx answer: whether this delivery created the event or was another sighting.
#[derive(Debug, Serialize)]
pub struct Ack {
    pub status: &'static str,
    pub event_id: i64,
}

/// How one vendor's deliveries are authenticated.
#[derive(Debug, Clone)]
pub struct VendorAuth {
    token: Option<Secret>,
    signing_key: Option<SigningKey>,
}

impl VendorAuth {
    /// Builds from settings; `key` names the settings section in errors.
    pub fn from_settings(settings: &WebhookAuthSettings, key: &str) -> anyhow::Result<Self> {
        let signing_key = match &settings.signing_secret {
            Some(secret) => Some(SigningKey::parse(secret.expose()).map_err(|why| {
                anyhow::anyhow!("configuration key `{key}.signing_secret`: {why}")
            })?),
            None => None,
        };
        Ok(Self {
            token: settings.token.clone(),
            signing_key,
        })
    }

    fn is_authenticated(&self) -> bool {
        self.token.is_some() || self.signing_key.is_some()
    }

    fn check_token(&self, given: Option<&str>) -> Result<(), ApiError> {
        match (&self.token, given) {
            (Some(expected), Some(given))
                if bool::from(expected.expose().as_bytes().ct_eq(given.as_bytes())) =>
            {
                Ok(())
            }
            (Some(_), _) => Err(ApiError::unauthorized(
                "unknown or missing webhook token; expected the URL /webhooks/<vendor>/<token> with the configured token",
            )),
            (None, Some(_)) => Err(ApiError::unauthorized(
                "no webhook token is configured for this vendor; expected the URL without a token",
            )),
            (None, None) => Ok(()),
        }
    }
}

struct Shared {
    writer: Writer,
    clock: Clock,
    max_body_bytes: usize,
    body_timeout: std::time::Duration,
    tolerance_secs: u64,
    /// Unauthenticated vendors are accepted (a loopback listener, or opted in).
    open: bool,
    scrapely: VendorAuth,
    scrapest: VendorAuth,
    scrapebadger: VendorAuth,
}

#[derive(Clone)]
pub struct WebhookState(Arc<Shared>);

impl WebhookState {
    pub fn new(
        settings: &Settings,
        writer: Writer,
        clock: Clock,
        listening_on: std::net::SocketAddr,
    ) -> anyhow::Result<Self> {
        let hooks = &settings.webhooks;
        Ok(Self(Arc::new(Shared {
            writer,
            clock,
            max_body_bytes: settings.server.max_body_bytes,
            body_timeout: std::time::Duration::from_secs_f64(settings.server.body_timeout_secs),
            tolerance_secs: hooks.timestamp_tolerance_secs,
            open: listening_on.ip().is_loopback() || hooks.allow_unauthenticated,
            scrapely: VendorAuth::from_settings(&hooks.scrapely, "webhooks.scrapely")?,
            scrapest: VendorAuth::from_settings(&hooks.scrapest, "webhooks.scrapest")?,
            scrapebadger: VendorAuth::from_settings(&hooks.scrapebadger, "webhooks.scrapebadger")?,
        })))
    }
}

/// The vendors that deliver webhooks, each with its normalizer.
#[derive(Debug, Clone, Copy)]
enum Vendor {
    Scrapely,
    Scrapest,
    Scrapebadger,
}

impl Vendor {
    fn source(self) -> &'static str {
        match self {
            Vendor::Scrapely => sources::scrapely::SOURCE,
            Vendor::Scrapest => "scrapest",
            Vendor::Scrapebadger => "scrapebadger",
        }
    }

    fn normalize(self) -> Normalize {
        match self {
            Vendor::Scrapely => sources::scrapely::normalize,
            Vendor::Scrapest => sources::scrapest::normalize_webhook,
            Vendor::Scrapebadger => sources::scrapebadger::normalize_webhook,
        }
    }

    fn auth(self, shared: &Shared) -> &VendorAuth {
        match self {
            Vendor::Scrapely => &shared.scrapely,
            Vendor::Scrapest => &shared.scrapest,
            Vendor::Scrapebadger => &shared.scrapebadger,
        }
    }
}

pub fn router(state: WebhookState) -> Router {
    let mut router = Router::new();
    for vendor in [Vendor::Scrapely, Vendor::Scrapest, Vendor::Scrapebadger] {
        let path = format!("/webhooks/{}", vendor.source());
        router = router
            .route(
                &path,
                post(
                    move |State(state): State<WebhookState>, headers: HeaderMap, body: Body| async move {
                        handle(&state, vendor, None, &headers, body).await
                    },
                ),
            )
            .route(
                &format!("{path}/{{token}}"),
                post(
                    move |State(state): State<WebhookState>,
                          Path(token): Path<String>,
                          headers: HeaderMap,
                          body: Body| async move {
                        handle(&state, vendor, Some(&token), &headers, body).await
                    },
                ),
            );
    }
    router.with_state(state)
}

async fn handle(
    state: &WebhookState,
    vendor: Vendor,
    token: Option<&str>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Json<Ack>, ApiError> {
    let auth = vendor.auth(&state.0);
    let source = vendor.source();
    let result = if !state.0.open && !auth.is_authenticated() {
        refusals::warn(source, "this vendor has no webhook authentication", None);
        Err(ApiError::forbidden(format!(
            "webhooks.{source}.token is not configured; unauthenticated webhooks are accepted \
             only on a loopback listener (or with webhooks.allow_unauthenticated = true)"
        )))
    } else {
        receive(
            state,
            auth,
            token,
            headers,
            body,
            source,
            vendor.normalize(),
        )
        .await
    };
    counted(source, result)
}

type Normalize = fn(&[u8], OffsetDateTime) -> Result<NewEvent, Rejection>;

/// The `source` label of `starling_webhook_requests_total`: each vendor's.
pub fn sources() -> [&'static str; 3] {
    [Vendor::Scrapely, Vendor::Scrapest, Vendor::Scrapebadger].map(Vendor::source)
}

/// Every `outcome` of `starling_webhook_requests_total`: the [`Ack`] statuses and
/// the [`ApiError`] codes a webhook can answer (registered at zero at start-up).
pub const OUTCOMES: [&str; 10] = [
    "created",
    "updated",
    "duplicate",
    "unauthorized",
    "forbidden",
    "payload_too_large",
    "request_timeout",
    "invalid_json",
    "invalid_payload",
    "unavailable",
];

/// Counts each answer in `starling_webhook_requests_total{source, outcome}`.
fn counted(
    source: &'static str,
    result: Result<Json<Ack>, ApiError>,
) -> Result<Json<Ack>, ApiError> {
    let outcome = match &result {
        Ok(ack) => ack.status,
        Err(e) => e.error,
    };
    metrics::counter!("starling_webhook_requests_total", "source" => source, "outcome" => outcome)
        .increment(1);
    result
}

async fn receive(
    state: &WebhookState,
    auth: &VendorAuth,
    token: Option<&str>,
    headers: &HeaderMap,
    body: Body,
    source: &'static str,
    normalize: Normalize,
) -> Result<Json<Ack>, ApiError> {
    let shared = &state.0;
    auth.check_token(token).inspect_err(|_| {
        refusals::warn(source, "bad or missing URL token", None);
    })?;
    let bytes = tokio::time::timeout(
        shared.body_timeout,
        read_body(body, headers, shared.max_body_bytes),
    )
    .await
    .map_err(|_| ApiError::body_timeout(shared.body_timeout))??;
    let received_at = shared.clock.now();
    if let Some(key) = &auth.signing_key {
        key.verify(headers, &bytes, received_at, shared.tolerance_secs)
            .map_err(|why| {
                refusals::warn(source, "bad signature", Some(&why.to_string()));
                ApiError::unauthorized(why.to_string())
            })?;
    }
    match normalize(&bytes, received_at) {
        Ok(event) => {
            let committed = shared.writer.commit_event(event).await.map_err(|error| {
                // An outage is logged once, when it starts (store::availability).
                if !matches!(error, crate::store::StoreError::Unavailable) {
                    tracing::error!(source, %error, "Could not store a webhook event; answered 503");
                }
                ApiError::unavailable()
            })?;
            let status = match (committed.created, committed.upgraded) {
                (true, _) => "created",
                (false, true) => "updated",
                (false, false) => "duplicate",
            };
            tracing::debug!(
                source,
                event_id = committed.event_id,
                status,
                "Webhook event committed"
            );
            Ok(Json(Ack {
                status,
                event_id: committed.event_id,
            }))
        }
        Err(rejection) => Err(quarantine(
            shared,
            source,
            headers,
            bytes.to_vec(),
            received_at,
            rejection,
        )
        .await),
    }
}

async fn quarantine(
    shared: &Shared,
    source: &'static str,
    headers: &HeaderMap,
    body: Vec<u8>,
    received_at: OffsetDateTime,
    rejection: Rejection,
) -> ApiError {
    let (reason, to_error): (String, fn(String) -> ApiError) = match rejection {
        Rejection::NotJson(d) => (d, ApiError::not_json),
        Rejection::Malformed(d) => (d, ApiError::invalid_payload),
    };
    let payload = QuarantinedPayload {
        source,
        channel: CHANNEL_WEBHOOK,
        received_at,
        reason: reason.clone(),
        content_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body,
    };
    match shared.writer.quarantine(payload).await {
        Ok(id) => {
            tracing::warn!(source, quarantine_id = id, %reason, "Quarantined a malformed webhook payload");
            to_error(format!("{reason} (kept as quarantine #{id})"))
        }
        Err(error) => {
            tracing::error!(source, %error, "Could not quarantine a malformed payload; answered 503");
            ApiError::unavailable()
        }
    }
}

/// Reads at most `limit` bytes; a larger body is refused with 413 without reading it all.
async fn read_body(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
) -> Result<bytes::Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(ApiError::payload_too_large(limit));
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(ApiError::payload_too_large(limit))
        }
        Err(e) => Err(ApiError::not_json(format!(
            "the body could not be read: {e}"
        ))),
    }
}
