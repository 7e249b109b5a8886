//! The budget arithmetic, with no SQL: what one check decides from what it read
//! of a bucket — how many slots go now, or how long until one may ([`grant`]) —
//! and how calls are spaced when the vendor says few remain ([`pace`]).

use super::{Budget, MARGIN};
use std::time::Duration;

/// A bucket as one check sees it, its row locked.
#[derive(Debug, Clone, Copy, Default)]
pub struct Seen {
    pub blocked_until: i64,
    pub vendor: Vendor,
    pub calls: Calls,
    /// The oldest call in the window (ms).
    pub oldest: Option<i64>,
}

/// How many of `wanted` calls may go at `now` (at least one), or how long until
/// one may: the vendor's block, the sliding log's room, then [`pace`] for each
/// further call as if the ones before it were just taken — so a window with few
/// calls left still grants them one at a time.
pub fn grant(seen: &Seen, budget: Budget, wanted: u32, now: i64) -> Result<u32, Duration> {
    let window = (budget.window + MARGIN).as_millis() as i64;
    if seen.blocked_until > now {
        return Err(Duration::from_millis((seen.blocked_until - now) as u64));
    }
    let limit = seen.vendor.limit.unwrap_or(budget.limit);
    let mut calls = seen.calls;
    let mut granted = 0;
    while granted < wanted {
        if calls.used >= i64::from(limit) {
            let free_at = seen.oldest.unwrap_or(now) + window;
            return first(
                granted,
                Duration::from_millis((free_at - now).max(1) as u64),
            );
        }
        if let Some(wait) = pace(&seen.vendor, limit, calls, now) {
            return first(granted, wait);
        }
        granted += 1;
        calls = Calls {
            used: calls.used + 1,
            since: calls.since + 1,
            last: Some(now),
        };
    }
    Ok(granted)
}

/// What was granted, or the wait when nothing was.
fn first(granted: u32, wait: Duration) -> Result<u32, Duration> {
    if granted == 0 { Err(wait) } else { Ok(granted) }
}

type VendorRow = (
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

/// What the vendor said about a bucket, as `rate_limit_vendor` keeps it (times in ms).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Vendor {
    /// `X-RateLimit-Limit`: the budget once known.
    pub limit: Option<u32>,
    /// `X-RateLimit-Remaining` of the latest answer, recorded at `remaining_at`.
    pub remaining: Option<u32>,
    pub remaining_at: Option<i64>,
    /// `X-RateLimit-Reset` of that answer.
    pub reset_at: Option<i64>,
    /// The first answer of any kind: `None` until the vendor has answered once.
    pub heard_at: Option<i64>,
}

impl From<VendorRow> for Vendor {
    fn from(r: VendorRow) -> Self {
        let count = |v: Option<i64>| v.and_then(|v| u32::try_from(v).ok());
        Self {
            limit: count(r.0).filter(|l| *l > 0),
            remaining: count(r.1),
            remaining_at: r.2,
            reset_at: r.3,
            heard_at: r.4,
        }
    }
}

/// The bucket's calls in the sliding log, as the check sees them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Calls {
    /// Calls in the window.
    pub used: i64,
    /// Calls taken after the vendor's latest `remaining` (not in its count).
    pub since: i64,
    /// The latest call (ms).
    pub last: Option<i64>,
}

/// Before the vendor's first answer, one call at a time: at most one per this.
pub const FIRST_ANSWER_WAIT: Duration = Duration::from_secs(1);
/// How often a call waiting for the vendor's first answer looks again.
const PROBE_POLL: Duration = Duration::from_millis(50);

/// Whether `left` calls are "few" for a window of `limit`: under a quarter left.
pub fn is_low(left: u32, limit: u32) -> bool {
    u64::from(left) * 4 < u64::from(limit)
}

/// How long the next call must wait beyond the sliding log, or `None` to go now.
///
/// What the vendor says remains until its reset (less the calls taken since it
/// said so) caps the calls: none left, nobody calls before the reset. When it is
/// less than the sliding log would allow (another client of the key, or a
/// window the vendor counts differently) and low — under a quarter of the limit
/// — the calls are spread evenly over the time to the reset: the next goes
/// `(reset − last) / left` after the last one, so the last remaining call lands
/// at the reset instead of bursting into 429s.
pub fn pace(v: &Vendor, limit: u32, calls: Calls, now: i64) -> Option<Duration> {
    let ms = |d: i64| Duration::from_millis(d.max(1) as u64);
    if v.heard_at.is_none() {
        // The first call's answer tells the limit; until then nobody bursts.
        return calls
            .last
            .filter(|l| now - l < FIRST_ANSWER_WAIT.as_millis() as i64)
            .map(|_| PROBE_POLL);
    }
    let (remaining, reset) = (v.remaining?, v.reset_at?);
    if reset <= now {
        return None; // a new window: what was said about the old one is stale
    }
    let left = i64::from(remaining) - calls.since.max(0);
    if left <= 0 {
        return Some(ms(reset - now));
    }
    let log_left = i64::from(limit) - calls.used;
    if left >= log_left || !is_low(left as u32, limit) {
        return None;
    }
    let last = calls.last?;
    let next = last + (reset - last) / left;
    (next > now).then(|| ms(next - now))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000;

    fn heard(remaining: u32, reset_in: i64) -> Vendor {
        Vendor {
            remaining: Some(remaining),
            remaining_at: Some(NOW),
            reset_at: Some(NOW + reset_in),
            heard_at: Some(NOW),
            ..Vendor::default()
        }
    }

    fn calls(used: i64, since: i64, last: i64) -> Calls {
        Calls {
            used,
            since,
            last: Some(last),
        }
    }

    #[test]
    fn plenty_left_goes_at_once() {
        assert_eq!(pace(&heard(45, 30_000), 60, calls(1, 0, NOW), NOW), None);
    }

    #[test]
    fn few_left_are_spread_until_the_reset() {
        // 4 of 60 left (the log thinks 59), 8 s to the reset: one every 2 s after the last call.
        let v = heard(4, 8_000);
        assert_eq!(
            pace(&v, 60, calls(1, 0, NOW), NOW),
            Some(Duration::from_secs(2))
        );
        assert_eq!(pace(&v, 60, calls(1, 0, NOW), NOW + 2_000), None);
        // One call taken since the answer: 3 left over the 8 s from the last call.
        assert_eq!(
            pace(&v, 60, calls(2, 1, NOW + 500), NOW + 500),
            Some(Duration::from_millis(2500))
        );
    }

    #[test]
    fn few_left_that_the_log_already_counts_are_not_spread() {
        // The log has 56 of 60 in the window: it stops at the 60th by itself.
        assert_eq!(pace(&heard(4, 8_000), 60, calls(56, 0, NOW), NOW), None);
    }

    #[test]
    fn nothing_left_waits_for_the_reset_and_a_past_reset_is_stale() {
        let v = heard(2, 5_000);
        let c = calls(3, 2, NOW);
        assert_eq!(pace(&v, 60, c, NOW + 1_000), Some(Duration::from_secs(4)));
        assert_eq!(pace(&v, 60, c, NOW + 5_000), None);
    }

    #[test]
    fn low_is_under_a_quarter_of_the_limit() {
        assert!(is_low(14, 60) && !is_low(15, 60));
        assert!(is_low(2, 10) && !is_low(3, 10));
        assert!(!is_low(1, 4) && is_low(0, 4));
    }

    fn seen(vendor: Vendor, used: i64) -> Seen {
        Seen {
            vendor,
            calls: calls(used, 0, NOW - 5_000),
            oldest: Some(NOW - 500),
            ..Seen::default()
        }
    }

    const BUDGET: Budget = Budget {
        limit: 60,
        window: Duration::from_secs(60),
    };

    #[test]
    fn a_batch_gets_what_the_log_has_room_for() {
        let plenty = heard(50, 30_000);
        assert_eq!(grant(&seen(plenty, 10), BUDGET, 5, NOW), Ok(5));
        assert_eq!(grant(&seen(plenty, 57), BUDGET, 5, NOW), Ok(3));
        let full = grant(&seen(plenty, 60), BUDGET, 5, NOW);
        assert_eq!(full, Err(Duration::from_millis(60_250 - 500)));
    }

    #[test]
    fn a_batch_in_a_window_with_few_left_gets_one() {
        // 4 of 60 left per the vendor: spread, so one now and the rest later.
        assert_eq!(grant(&seen(heard(4, 8_000), 1), BUDGET, 3, NOW), Ok(1));
        // Before the vendor's first answer, one call at a time.
        assert_eq!(grant(&seen(Vendor::default(), 0), BUDGET, 3, NOW), Ok(1));
        let blocked = Seen {
            blocked_until: NOW + 700,
            ..seen(heard(50, 30_000), 0)
        };
        assert_eq!(
            grant(&blocked, BUDGET, 3, NOW),
            Err(Duration::from_millis(700))
        );
    }

    #[test]
    fn before_the_first_answer_one_call_at_a_time() {
        let unheard = Vendor::default();
        assert_eq!(pace(&unheard, 60, Calls::default(), NOW), None);
        assert_eq!(
            pace(&unheard, 60, calls(1, 0, NOW - 10), NOW),
            Some(PROBE_POLL)
        );
        assert_eq!(pace(&unheard, 60, calls(1, 0, NOW - 1_000), NOW), None);
    }
}
