//! The service itself: `[database]` (URL, pool, group commit), `[server]` (the
//! HTTP listener and its limits), `[rules]` (the rules directory) and `[log]`.

use crate::secret::{Secret, redact_url};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://PATH` (created if missing) or `postgres://…`.
    pub url: Secret,
    /// Pool size (SQLite readers and the writer; PostgreSQL connections).
    pub max_connections: u32,
    /// Most events committed in one transaction by the group-commit writer.
    pub group_commit_max: usize,
    /// How long `serve` and `migrate` wait for PostgreSQL to answer at start-up
    /// (saying so every few seconds); 0 fails at once.
    pub startup_wait_secs: u64,
}

impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &redact_url(self.url.expose()))
            .field("max_connections", &self.max_connections)
            .field("group_commit_max", &self.group_commit_max)
            .field("startup_wait_secs", &self.startup_wait_secs)
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address the HTTP server binds (webhooks, health, readiness): `HOST:PORT`.
    #[serde(deserialize_with = "super::values::listen_address")]
    pub listen: SocketAddr,
    /// Largest webhook body accepted; larger ones get 413.
    pub max_body_bytes: usize,
    /// How long shutdown waits for in-flight requests before exiting.
    pub shutdown_grace_secs: u64,
    /// From waiting for a request until its headers are in (also how long an
    /// idle keep-alive connection stays open).
    pub header_timeout_secs: f64,
    /// How long a webhook's body may take to arrive (408 after).
    pub body_timeout_secs: f64,
    /// Connections open at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Bearer token for `/readyz` and `/metrics` on a non-loopback listener.
    pub ops_token: Option<Secret>,
    /// Serve `/readyz` and `/metrics` without a token on a non-loopback listener.
    pub public_ops: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesSettings {
    /// Directory of rule files.
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `tracing` filter, e.g. `info` or `starling=debug,info`; `RUST_LOG` overrides it.
    pub filter: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl<'de> Deserialize<'de> for LogFormat {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::values::one_of(d, &[("text", LogFormat::Text), ("json", LogFormat::Json)])
    }
}
