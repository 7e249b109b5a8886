//! One outbound HTTP call and what its answer means for the action: success,
//! retry (and how long the vendor asked us to wait), dead, or unknown.

use crate::http_client::header;
pub use crate::http_client::{RateHeaders, client, init_tls};
pub use crate::store::status::ErrorClass;
use reqwest::header::HeaderMap;
use serde_json::Value;
use std::time::{Duration, Instant};

/// A request ready to send. `recorded_url` is what the audit log shows (secrets
/// in the URL, such as a Slack webhook path, redacted). Built from stored
/// parameters, it holds credential markers until [`Outbound::reveal`]; from then
/// on only the recorded URL and body are fit to keep (its `Debug` shows no more).
#[derive(Clone)]
pub struct Outbound {
    pub method: reqwest::Method,
    pub url: String,
    pub recorded_url: String,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    /// Statuses that count as success; empty means any 2xx.
    pub success: Vec<u16>,
    /// The body as recorded, taken before markers were revealed.
    pub(super) recorded_body: Option<Option<String>>,
    /// The values revealed into this request, to scrub from what comes back.
    pub(super) revealed: Vec<crate::secret::marker::Revealed>,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Outbound")
            .field("method", &self.method)
            .field("url", &self.recorded_url)
            .field("headers", &headers)
            .field("body", &self.recorded_body())
            .field("success", &self.success)
            .finish()
    }
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
            recorded_body: None,
            revealed: Vec::new(),
        }
    }

    /// The body as recorded in the audit log (markers, never revealed values).
    pub fn recorded_body(&self) -> Option<String> {
        if let Some(recorded) = &self.recorded_body {
            return recorded.clone();
        }
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
    pub error_class: Option<ErrorClass>,
    pub error: Option<String>,
    /// The vendor asked us to wait this long before calling again.
    pub vendor_wait: Option<Duration>,
    /// The vendor said its whole window is spent until this Unix time (ms).
    pub window_spent_until: Option<i64>,
    /// What the vendor's `X-RateLimit-*` headers said about its window.
    pub rate: RateHeaders,
}

impl Answer {
    /// Whether the vendor may have acted on the request although it did not
    /// answer success: its effect is unknown until reconciled.
    pub fn maybe_sent(&self) -> bool {
        self.verdict != Verdict::Success
            && self
                .error_class
                .is_some_and(ErrorClass::may_have_reached_vendor)
    }
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
    // A connect timeout is both `is_connect` and `is_timeout`: nothing was written.
    let class = if error.is_connect() {
        ErrorClass::Connect
    } else if error.is_timeout() {
        ErrorClass::Timeout
    } else {
        ErrorClass::ConnectionLost
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
        error: Some(format!("{}: {}", class.as_str(), sanitize(error))),
        vendor_wait: None,
        window_spent_until: None,
        rate: RateHeaders::default(),
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
        429 => (Verdict::Retry, Some(ErrorClass::RateLimited)),
        408 => (Verdict::Retry, Some(ErrorClass::RequestTimeout)),
        500..=599 => (Verdict::Retry, Some(ErrorClass::ServerError)),
        _ => (Verdict::Dead, Some(ErrorClass::ClientError)),
    };
    // A 429 without a wait still blocks every process, for the default backoff.
    let vendor_wait = (status == 429).then(|| {
        retry_after(headers, body.as_ref(), crate::store::actions::now_ms())
            .unwrap_or(DEFAULT_429_WAIT)
    });
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
        window_spent_until,
        rate: RateHeaders::of(headers),
    }
}

/// How long every process waits after a 429 that named no wait.
pub const DEFAULT_429_WAIT: Duration = Duration::from_secs(5);

/// A 429's wait: Scrapely's `retry_after` (seconds) in the body, else
/// `Retry-After` in seconds or as an HTTP date.
fn retry_after(headers: &HeaderMap, body: Option<&Value>, now_ms: i64) -> Option<Duration> {
    let seconds = body
        .and_then(|b| b.get("retry_after"))
        .and_then(Value::as_f64)
        .or_else(|| {
            let value = header(headers, "retry-after")?;
            let value = value.trim();
            value.parse::<f64>().ok().or_else(|| {
                let at = httpdate::parse_http_date(value).ok()?;
                let at_ms = at.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as i64;
                Some((at_ms - now_ms).max(0) as f64 / 1000.0)
            })
        })?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(86_400.0)))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn retry_after_reads_seconds_an_http_date_and_the_body() {
        let now = 1_709_234_000_000;
        let secs = headers(&[("retry-after", "7")]);
        assert_eq!(retry_after(&secs, None, now), Some(Duration::from_secs(7)));
        // 1709234567 is Thu, 29 Feb 2024 19:22:47 GMT.
        let date = headers(&[("retry-after", "Thu, 29 Feb 2024 19:22:47 GMT")]);
        assert_eq!(
            retry_after(&date, None, now),
            Some(Duration::from_secs(567))
        );
        let body = serde_json::json!({"retry_after": 45});
        assert_eq!(
            retry_after(&secs, Some(&body), now),
            Some(Duration::from_secs(45))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "soon")]), None, now),
            None
        );
    }

    #[test]
    fn only_answers_that_prove_nothing_was_sent_are_safe_to_resend() {
        for class in [
            ErrorClass::ServerError,
            ErrorClass::Timeout,
            ErrorClass::ConnectionLost,
        ] {
            assert!(class.may_have_reached_vendor(), "{class:?}");
            assert!(ErrorClass::recorded_may_have_reached_vendor(class.as_str()));
        }
        for class in [
            ErrorClass::Connect,
            ErrorClass::RateLimited,
            ErrorClass::RequestTimeout,
            ErrorClass::ClientError,
        ] {
            assert!(!class.may_have_reached_vendor(), "{class:?}");
        }
    }
}
