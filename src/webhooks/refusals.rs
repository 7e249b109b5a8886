//! Warnings about refused webhooks, at most one per kind of refusal a minute:
//! a misconfigured sender or a scanner may repeat a refused request thousands of
//! times a second, and each one is also counted in
//! `starling_webhook_requests_total`. The first refusal of a minute is logged,
//! with how many were not logged in the minute before it.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);

/// (source, reason) → when its window began, how many went unlogged since.
type Windows = HashMap<(&'static str, &'static str), (Instant, u64)>;

/// One minute's window per kind of refusal.
#[derive(Default)]
pub struct Throttle {
    windows: Mutex<Windows>,
}

impl Throttle {
    /// `Some(n)` when this refusal should be logged, `n` being how many of its
    /// kind went unlogged since the last one; `None` when it is only counted.
    pub fn admit(&self, source: &'static str, reason: &'static str, now: Instant) -> Option<u64> {
        let mut windows = self.windows.lock().expect("refusal windows");
        match windows.get_mut(&(source, reason)) {
            Some((started, unlogged)) if now.duration_since(*started) < WINDOW => {
                *unlogged += 1;
                None
            }
            Some(window) => {
                let unlogged = window.1;
                *window = (now, 0);
                Some(unlogged)
            }
            None => {
                windows.insert((source, reason), (now, 0));
                Some(0)
            }
        }
    }
}

static REFUSALS: LazyLock<Throttle> = LazyLock::new(Throttle::default);

/// Logs a refused webhook as a WARN unless one of its kind was logged in the
/// last minute.
pub fn warn(source: &'static str, reason: &'static str, detail: Option<&str>) {
    if let Some(unlogged) = REFUSALS.admit(source, reason, Instant::now()) {
        tracing::warn!(
            source,
            detail = detail.unwrap_or(""),
            not_logged_in_the_last_minute = unlogged,
            "Refused a webhook: {reason}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_of_a_minute_is_logged_with_the_count_of_the_rest() {
        let throttle = Throttle::default();
        let t0 = Instant::now();
        assert_eq!(throttle.admit("scrapely", "bad token", t0), Some(0));
        for i in 1..=500 {
            assert_eq!(
                throttle.admit("scrapely", "bad token", t0 + Duration::from_millis(i)),
                None
            );
        }
        // Another kind has its own window.
        assert_eq!(throttle.admit("scrapely", "bad signature", t0), Some(0));
        assert_eq!(
            throttle.admit("scrapely", "bad token", t0 + WINDOW),
            Some(500)
        );
        assert_eq!(
            throttle.admit(
                "scrapely",
                "bad token",
                t0 + WINDOW + Duration::from_secs(1)
            ),
            None
        );
    }
}
