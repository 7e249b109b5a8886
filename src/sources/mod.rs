//! Sources: what each vendor sends, one folder per vendor with its payload
//! normalizer (`mod.rs`) and its transports, and the supervision the streams share.
//!
//! | module | what | endpoint | auth |
//! |---|---|---|---|
//! | [`scrapely`] | webhook normalizer (seed `004`) | `POST /webhooks/scrapely` | signature or token ([`crate::webhooks`]) |
//! | [`scrapest`] | normalizer, and the webhook `POST /webhooks/scrapest/{token}` | | |
//! | [`scrapest::ws`] | WebSocket (seeds `000`, `002`) | `wss://scrape.st/ws` | `x-api-key` header |
//! | [`scrapest::sse`] | SSE (seed `002`) | `https://scrape.st/stream` | none, or a token from `POST /stream/token` |
//! | [`scrapest::filter`] | filter-rules WebSocket (seed `001`) | `wss://api.scrape.st/ws` | `Authorization: Bearer` |
//! | [`scrapebadger`] | normalizer, and the webhook `POST /webhooks/scrapebadger/{token}` | | |
//! | [`scrapebadger::stream`] | subscription WebSocket (seed `003`) | `wss://scrapebadger.com/v1/twitter/stream` | `api_key` query parameter |
//!
//! [`crate::webhooks`] is the thin HTTP adapter that calls each normalizer.
//! A tweet is the same event on every channel ([`tweets`]); a refused payload is
//! a [`Rejection`]; [`reread`] reads a quarantined body again with the normalizer
//! it arrived through. This module owns what the streams share: [`supervise`] (connect, read until the
//! connection ends, wait with backoff, again), [`Ended`] (why a connection ended
//! and how long to wait, `ended.rs`), [`Ingest`] (every message through the group-commit
//! writer, or into quarantine), the per-stream lease (one process holds a stream, `lease.rs`)
//! and [`status`]. [`websocket`] is the loop the three WebSocket protocols use.

mod ended;
pub mod ingest;
mod lease;
mod rejection;
pub mod reread;
pub mod scrapebadger;
pub mod scrapely;
pub mod scrapest;
pub mod status;
pub mod tweets;
pub mod websocket;

pub use ended::Ended;
pub use rejection::Rejection;

use crate::config::{Settings, StreamKind, StreamSettings, StreamingSettings};
use crate::store::Store;
use crate::store::writer::Writer;
pub use ingest::Ingest;
use lease::Holder;
use status::{State, StreamStatus};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Everything a connection needs.
pub struct StreamContext {
    pub settings: StreamSettings,
    pub streaming: StreamingSettings,
    pub ingest: Ingest,
    /// Cancelled on shutdown or when the lease is lost.
    pub stop: CancellationToken,
    /// Shared by the filter streams of one key: Scrapest's 100 messages/s.
    pub send_limit: Option<Arc<scrapest::filter::SendLimiter>>,
    pub http: reqwest::Client,
    /// The private SSE stream's token and last event id, kept across reconnects.
    pub sse: scrapest::sse::SseState,
}

impl StreamContext {
    pub fn status(&self) -> &StreamStatus {
        self.ingest.status()
    }

    /// `text` with the stream's key (and any key inside a URL) masked, for logs and errors.
    pub fn scrub(&self, text: &str) -> String {
        let text = crate::secret::redact_urls_in(text);
        match &self.settings.api_key {
            Some(key) if !key.expose().is_empty() => text.replace(key.expose(), "***"),
            _ => text,
        }
    }
}

/// Connects, reads until the connection ends, waits, again — until `stop`.
/// Gives the context back (a stream taken over may be held again later).
pub async fn supervise(ctx: StreamContext) -> StreamContext {
    let name = ctx.settings.name.clone();
    let kind = ctx.settings.kind;
    let mut failures = 0u32;
    loop {
        ctx.status().set_state(State::Connecting);
        let started = Instant::now();
        let ended = match kind {
            StreamKind::Scrapest => scrapest::ws::run(&ctx).await,
            StreamKind::ScrapestSse => scrapest::sse::run(&ctx).await,
            StreamKind::ScrapestFilter => scrapest::filter::run(&ctx).await,
            StreamKind::Scrapebadger => scrapebadger::stream::run(&ctx).await,
        };
        if ended == Ended::Stopped || ctx.stop.is_cancelled() {
            break;
        }
        if started.elapsed() >= Duration::from_secs(ctx.streaming.stable_secs) {
            failures = 0;
        }
        let wait = ended.wait(&ctx.streaming, failures);
        failures = failures.saturating_add(1);
        let why = ctx.scrub(&ended.describe(kind));
        tracing::warn!(stream = %name, kind = kind.as_str(), wait_ms = wait.as_millis() as u64, "Stream down: {why}; next attempt after wait_ms");
        ctx.status().error(ended.state(), why);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = ctx.stop.cancelled() => break,
        }
        ctx.status().reconnecting();
    }
    ctx.ingest.drain().await;
    ctx
}

/// The running streams of this process.
#[derive(Clone, Default)]
pub struct Streams {
    pub statuses: Vec<Arc<StreamStatus>>,
}

impl Streams {
    pub fn new(settings: &Settings) -> Self {
        Self {
            statuses: settings
                .streams
                .iter()
                .filter(|s| s.enabled)
                .map(|s| StreamStatus::new(&s.name, s.kind))
                .collect(),
        }
    }

    pub fn snapshots(&self) -> Vec<status::Snapshot> {
        self.statuses.iter().map(|s| s.snapshot()).collect()
    }
}

/// Runs every enabled stream until `stop`: each waits for its lease, holds it
/// while connected, and gives it up on shutdown.
pub async fn run(
    settings: Settings,
    streams: Streams,
    store: Store,
    writer: Writer,
    owner: String,
    stop: CancellationToken,
) {
    if streams.statuses.is_empty() {
        return;
    }
    let lease = Duration::from_secs(settings.streaming.lease_secs.max(3));
    let connect_timeout = Duration::from_secs(settings.streaming.connect_timeout_secs.max(1));
    let http = match crate::http_client::client(connect_timeout) {
        Ok(http) => http,
        Err(error) => {
            tracing::error!(%error, "Cannot build the HTTP client; streams do not start");
            return;
        }
    };
    let limiters = scrapest::filter::limiters(&settings.streams);
    let mut tasks = JoinSet::new();
    tasks.spawn(status::flush_every_second(
        store.clone(),
        owner.clone(),
        lease,
        streams.statuses.clone(),
        stop.clone(),
    ));
    if let Some(after) = settings.alerts.stream_down_after.0 {
        let vendors = settings.streams.iter().filter(|s| s.enabled);
        let watched = vendors
            .zip(&streams.statuses)
            .map(|(config, status)| (status.clone(), source_and_channel(config).0))
            .collect();
        tasks.spawn(status::announce_downtime(
            writer.clone(),
            watched,
            after,
            stop.clone(),
        ));
    }
    let enabled = settings.streams.iter().filter(|s| s.enabled);
    for (config, status) in enabled.zip(&streams.statuses) {
        let (source, channel) = source_and_channel(config);
        let template = StreamContext {
            settings: config.clone(),
            streaming: settings.streaming.clone(),
            ingest: Ingest::new(writer.clone(), source, channel, status.clone()),
            stop: CancellationToken::new(),
            send_limit: config
                .api_key
                .as_ref()
                .and_then(|k| limiters.get(k.expose()).cloned()),
            http: http.clone(),
            sse: Default::default(),
        };
        let holder = Holder {
            store: store.clone(),
            owner: owner.clone(),
            lease,
            status: status.clone(),
        };
        tasks.spawn(holder.hold(template, stop.clone()));
    }
    while tasks.join_next().await.is_some() {}
}

fn source_and_channel(config: &StreamSettings) -> (&'static str, &'static str) {
    use crate::event::*;
    match config.kind {
        StreamKind::ScrapestSse if config.api_key.is_none() => {
            ("scrapest", CHANNEL_SCRAPEST_SSE_PUBLIC)
        }
        StreamKind::ScrapestSse => ("scrapest", CHANNEL_SCRAPEST_SSE),
        StreamKind::Scrapest => ("scrapest", CHANNEL_SCRAPEST_WS),
        StreamKind::ScrapestFilter => ("scrapest", CHANNEL_SCRAPEST_FILTER),
        StreamKind::Scrapebadger => ("scrapebadger", CHANNEL_SCRAPEBADGER_WS),
    }
}
