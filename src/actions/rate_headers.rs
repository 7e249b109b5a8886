//! What a vendor's `X-RateLimit-*` headers say about its window (seed `004`:
//! every Scrapely response carries them). `store::ratelimit` keeps what they
//! said for every process and paces the calls by it.

use reqwest::header::HeaderMap;

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
        let number = |name: &str| {
            super::outbound::header(headers, name).and_then(|v| v.trim().parse::<i64>().ok())
        };
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
    fn rate_headers_are_read_when_valid() {
        let h = headers(&[
            ("x-ratelimit-limit", "60"),
            ("x-ratelimit-remaining", "45"),
            ("x-ratelimit-reset", "1709234567"),
        ]);
        let rate = RateHeaders::of(&h);
        assert_eq!(
            rate,
            RateHeaders {
                limit: Some(60),
                remaining: Some(45),
                reset_ms: Some(1_709_234_567_000)
            }
        );
        let bad = headers(&[("x-ratelimit-limit", "0"), ("x-ratelimit-remaining", "-1")]);
        assert_eq!(RateHeaders::of(&bad), RateHeaders::default());
    }
}
