//! Exponential backoff with full jitter: before attempt `n + 1`, wait a random
//! time in `[0, min(cap, base × factor^(n-1))]` — spreading retries of many
//! actions so they never hit a recovering vendor together. A vendor's own wait
//! (429 `retry_after`, `Retry-After`, `X-RateLimit-Reset`) is a floor.

use crate::config::RetrySettings;
use rand::Rng;
use std::time::Duration;

/// The upper bound of the wait after `attempt` (1-based) failed.
pub fn ceiling(settings: &RetrySettings, attempt: u32) -> Duration {
    let exp = settings
        .factor
        .powi(attempt.saturating_sub(1).min(64) as i32);
    let ms = (settings.base_ms as f64 * exp).min(settings.cap_secs as f64 * 1000.0);
    Duration::from_millis(ms as u64)
}

/// The wait after `attempt` failed: full jitter under [`ceiling`], at least `floor`.
pub fn delay(settings: &RetrySettings, attempt: u32, floor: Option<Duration>) -> Duration {
    let max = ceiling(settings, attempt).as_millis() as u64;
    let jittered = Duration::from_millis(rand::rng().random_range(0..=max));
    floor.map_or(jittered, |f| jittered.max(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> RetrySettings {
        RetrySettings {
            base_ms: 1000,
            factor: 2.0,
            cap_secs: 3600,
            max_attempts: 8,
        }
    }

    #[test]
    fn ceilings_double_up_to_the_cap() {
        let s = settings();
        assert_eq!(ceiling(&s, 1), Duration::from_secs(1));
        assert_eq!(ceiling(&s, 2), Duration::from_secs(2));
        assert_eq!(ceiling(&s, 4), Duration::from_secs(8));
        assert_eq!(ceiling(&s, 40), Duration::from_secs(3600));
    }

    #[test]
    fn delays_stay_under_the_ceiling_and_over_the_vendor_floor() {
        let s = settings();
        for attempt in 1..10 {
            assert!(delay(&s, attempt, None) <= ceiling(&s, attempt));
        }
        assert!(delay(&s, 1, Some(Duration::from_secs(45))) >= Duration::from_secs(45));
    }
}
