//! One outbound HTTP call and what its answer means for the action: success,
//! retry (and how long the vendor asked us to wait), dead, or unknown.

use reqwest::header::HeaderMap;
use serde_json::Value;
use std::time::{Duration, Instant};

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

/// A request ready to send. `recorded_url` is what the audit log shows (secrets
/// in the URL, such as a Slack webhook path, redacted).
#[derive(Debug, Clone)]
pub struct Outbound {
    pub method: reqwest::Method,
    pub url: String,
    pub recorded_url: String,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    /// Statuses that count as success; empty means any 2xx.
    pub success: Vec<u16>,
}

#[derive(Debug, Clone)]
pub enum Body {
    None,
    Json(Value),
    Text(String),
}

impl Outbound {
    pub fn new(method: reqwest::Method, url: String, body: Body) -> Self {
        Self {
            recorded_url: crate::secret::redact_request_url(&url),
            method,
            url,
            headers: Vec::new(),
            body,
            success: Vec::new(),
        }
    }

    /// The body as recorded in the audit log.
    pub fn recorded_body(&self) -> Option<String> {
        match &self.body {
            Body::None => None,
            Body::Json(v) => Some(v.to_string()),
            Body::Text(t) => Some(t.clone()),
        }
    }
}

/// What the answer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Success,
    /// 429, 5xx, 408, timeouts, connection errors.
    Retry,
    /// 400, 401, 403, 404, 422 and the like: sending again cannot help.
    Dead,
}

/// The result of one call, as recorded on its attempt.
#[derive(Debug, Clone)]
pub struct Answer {
    pub verdict: Verdict,
    pub status: Option<u16>,
    pub excerpt: Option<String>,
    pub body: Option<Value>,
    pub request_id: Option<String>,
    pub latency: Duration,
    /// e.g. `rate_limited`, `server_error`, `timeout`, `connection`, `client_error`.
    pub error_class: Option<&'static str>,
    pub error: Option<String>,
    /// The vendor asked us to wait this long before calling again.
    pub vendor_wait: Option<Duration>,
    /// The vendor said its whole window is spent until this Unix time (ms).
    pub window_spent_until: Option<i64>,
    /// Whether the request may have reached the vendor although no answer came
    /// (a timeout after sending): its effect is unknown.
    pub maybe_sent: bool,
}

const EXCERPT_BYTES: usize = 2048;

/// Sends `req` and classifies the answer. Never fails: transport errors are answers too.
pub async fn send(client: &reqwest::Client, req: &Outbound, timeout: Duration) -> Answer {
    let started = Instant::now();
    let mut builder = client
        .request(req.method.clone(), &req.url)
        .timeout(timeout);
    for (name, value) in &req.headers {
        builder = builder.header(name, value);
    }
    builder = match &req.body {
        Body::None => builder,
        Body::Json(v) => builder.json(v),
        Body::Text(t) => builder.body(t.clone()),
    };
    match builder.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let text = response.text().await.unwrap_or_default();
            classify(req, status, &headers, &text, started.elapsed())
        }
        Err(error) => transport_error(&error, started.elapsed()),
    }
}

fn transport_error(error: &reqwest::Error, latency: Duration) -> Answer {
    let (class, maybe_sent) = if error.is_connect() {
        ("connection", false)
    } else if error.is_timeout() {
        ("timeout", true)
    } else {
        ("connection", true)
    };
    Answer {
        verdict: Verdict::Retry,
        status: None,
        excerpt: None,
        body: None,
        request_id: None,
        latency,
        error_class: Some(class),
        // reqwest's message never includes the URL's secrets when built without_url.
        error: Some(format!("{class}: {}", sanitize(error))),
        vendor_wait: None,
        window_spent_until: None,
        maybe_sent,
    }
}

fn sanitize(error: &reqwest::Error) -> String {
    let mut e = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(s) = source {
        if !e.is_empty() {
            e.push_str(": ");
        }
        e.push_str(&s.to_string());
        source = s.source();
    }
    crate::secret::redact_urls_in(&e)
}

fn classify(
    req: &Outbound,
    status: u16,
    headers: &HeaderMap,
    text: &str,
    latency: Duration,
) -> Answer {
    let body: Option<Value> = serde_json::from_str(text).ok();
    let ok = if req.success.is_empty() {
        (200..300).contains(&status)
    } else {
        req.success.contains(&status)
    };
    let (verdict, class) = match status {
        _ if ok => (Verdict::Success, None),
        429 => (Verdict::Retry, Some("rate_limited")),
        408 => (Verdict::Retry, Some("request_timeout")),
        500..=599 => (Verdict::Retry, Some("server_error")),
        _ => (Verdict::Dead, Some("client_error")),
    };
    let vendor_wait = (status == 429)
        .then(|| retry_after(headers, body.as_ref()))
        .flatten();
    let window_spent_until = window_spent(headers)
        .or_else(|| vendor_wait.map(|w| crate::store::actions::now_ms() + w.as_millis() as i64));
    let error = class.map(|_| {
        let detail = body
            .as_ref()
            .and_then(|b| b.get("message").or_else(|| b.get("error")))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| truncate(text, 200));
        format!("HTTP {status}: {detail}")
    });
    Answer {
        verdict,
        status: Some(status),
        excerpt: Some(truncate(text, EXCERPT_BYTES)),
        body,
        request_id: header(headers, "x-request-id"),
        latency,
        error_class: class,
        error,
        vendor_wait,
        window_spent_until: if status == 429 || window_spent_until.is_some() {
            window_spent_until
        } else {
            None
        },
        maybe_sent: false,
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// A 429's wait: Scrapely's `retry_after` (seconds) in the body, else `Retry-After`.
fn retry_after(headers: &HeaderMap, body: Option<&Value>) -> Option<Duration> {
    body.and_then(|b| b.get("retry_after"))
        .and_then(Value::as_f64)
        .or_else(|| header(headers, "retry-after").and_then(|v| v.trim().parse::<f64>().ok()))
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// `X-RateLimit-Remaining: 0` with `X-RateLimit-Reset` (Unix seconds) → the reset, in ms.
fn window_spent(headers: &HeaderMap) -> Option<i64> {
    let remaining = header(headers, "x-ratelimit-remaining")?;
    if remaining.trim() != "0" {
        return None;
    }
    let reset: i64 = header(headers, "x-ratelimit-reset")?.trim().parse().ok()?;
    Some(reset * 1000)
}

pub fn truncate(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_string();
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}
