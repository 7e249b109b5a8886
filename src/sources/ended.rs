//! Why a stream's connection ended ([`Ended`]), said plainly for the log and the
//! stream's `last_error`, and how long that reason makes the supervisor wait.

use crate::config::{RetrySettings, StreamKind, StreamingSettings};
use crate::sources::status::State;
use std::time::Duration;

/// Why a connection ended, which decides the wait before the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// Shutdown, or another process took the stream over.
    Stopped,
    /// HTTP 401 at the handshake: the key is wrong.
    Unauthorized(String),
    /// The handshake failed otherwise (HTTP status, DNS, TLS, timeout).
    Refused(String),
    /// The server closed with a close frame.
    Closed { code: u16, reason: String },
    /// The connection broke without a close frame (1006).
    Dropped(String),
    /// Nothing arrived for longer than the documented limit.
    Idle(Duration),
}

impl Ended {
    /// How long to wait before the next attempt, after `failures` unstable connections.
    pub fn wait(&self, settings: &StreamingSettings, failures: u32) -> Duration {
        let retry = RetrySettings {
            base_ms: settings.backoff_base_ms,
            factor: 2.0,
            cap_secs: settings.backoff_cap_secs,
            max_attempts: u32::MAX,
        };
        let backoff = crate::backoff::delay(&retry, failures + 1, None);
        match self {
            Ended::Stopped => Duration::ZERO,
            Ended::Unauthorized(_) => Duration::from_secs(settings.unauthorized_retry_secs),
            Ended::Closed { code: 1008, .. } => {
                backoff.max(Duration::from_secs(settings.policy_retry_secs))
            }
            _ => backoff,
        }
    }

    /// Said plainly, for the log and `last_error`.
    pub fn describe(&self, kind: StreamKind) -> String {
        match self {
            Ended::Stopped => "stopped".into(),
            Ended::Unauthorized(detail) => format!(
                "the vendor refused the API key (HTTP 401: {detail}); check `api_key` of this stream"
            ),
            Ended::Refused(detail) => format!("could not connect: {detail}"),
            Ended::Closed { code: 1008, reason } => format!(
                "closed with 1008 (policy violation): a vendor limit was broken{} — {}; reason given: `{reason}`",
                if kind == StreamKind::ScrapestFilter {
                    ""
                } else {
                    " (or the key is not allowed this stream)"
                },
                limits(kind)
            ),
            Ended::Closed { code: 1000, reason } => {
                format!("closed normally (1000) by the server: `{reason}`")
            }
            Ended::Closed { code: 1001, reason } => {
                format!("the server is going away (1001): `{reason}`")
            }
            Ended::Closed { code, reason } => format!("closed with code {code}: `{reason}`"),
            Ended::Dropped(detail) => {
                format!("connection dropped without a close frame (1006): {detail}")
            }
            Ended::Idle(limit) => format!(
                "nothing received for {} s (not even a ping): taken for a dead connection",
                limit.as_secs()
            ),
        }
    }

    pub(super) fn state(&self) -> State {
        match self {
            Ended::Unauthorized(_) => State::Unauthorized,
            Ended::Stopped => State::Stopped,
            _ => State::BackingOff,
        }
    }
}

fn limits(kind: StreamKind) -> &'static str {
    match kind {
        StreamKind::ScrapestFilter => {
            "Scrapest allows 5 connections per API key (its `scrapest`, `scrapest_filter` and \
             private `scrapest_sse` streams together) and 100 messages per second"
        }
        StreamKind::Scrapest => {
            "Scrapest allows 5 connections per API key (its `scrapest`, `scrapest_filter` and \
             private `scrapest_sse` streams together)"
        }
        _ => "see the vendor's limits for this key",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> StreamingSettings {
        StreamingSettings {
            backoff_base_ms: 500,
            backoff_cap_secs: 60,
            stable_secs: 30,
            unauthorized_retry_secs: 300,
            policy_retry_secs: 60,
            connect_timeout_secs: 10,
            lease_secs: 15,
        }
    }

    #[test]
    fn waits_follow_the_reason() {
        let s = settings();
        let dropped = Ended::Dropped("reset".into());
        for failures in 0..20 {
            let ceiling = Duration::from_millis((500u64 << failures.min(16)).min(60_000));
            assert!(dropped.wait(&s, failures) <= ceiling);
        }
        assert_eq!(
            Ended::Unauthorized("no".into()).wait(&s, 0),
            Duration::from_secs(300)
        );
        let policy = Ended::Closed {
            code: 1008,
            reason: "too many".into(),
        };
        assert!(policy.wait(&s, 0) >= Duration::from_secs(60));
        assert!(
            Ended::Closed {
                code: 1001,
                reason: String::new()
            }
            .wait(&s, 0)
                <= Duration::from_millis(500)
        );
        let said = policy.describe(StreamKind::ScrapestFilter);
        assert!(
            said.contains("1008")
                && said.contains("5 connections per API key")
                && said.contains("too many"),
            "{said}"
        );
    }
}
