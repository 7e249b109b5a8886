//! The outbound HTTP client every vendor call and stream connection uses, and
//! the words of an HTTP answer more than one layer reads (a header's text, the
//! `X-RateLimit-*` window). A leaf: it knows no action, store or source.

use reqwest::header::HeaderMap;
use std::time::Duration;

/// Installs the TLS crypto provider reqwest uses (ring); idempotent. reqwest is
/// built without a default provider to keep the build lean.
pub fn init_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// An HTTP client for outbound calls.
pub fn client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    init_tls();
    reqwest::Client::builder()
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("starling/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// A header's value as text, when present and visible ASCII.
pub fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` of an
/// answer (seed `004`: every response carries them), each when present and valid.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateHeaders {
    pub limit: Option<u32>,
    pub remaining: Option<u32>,
    /// The reset, Unix milliseconds (the header is Unix seconds).
    pub reset_ms: Option<i64>,
}

impl RateHeaders {
    pub fn of(headers: &HeaderMap) -> Self {
        let number = |name: &str| header(headers, name).and_then(|v| v.trim().parse::<i64>().ok());
        Self {
            limit: number("x-ratelimit-limit")
                .and_then(|l| u32::try_from(l).ok())
                .filter(|l| *l > 0),
            remaining: number("x-ratelimit-remaining").and_then(|r| u32::try_from(r).ok()),
            reset_ms: number("x-ratelimit-reset")
                .filter(|r| *r > 0)
                .map(|r| r.saturating_mul(1000)),
        }
    }
}
