//! What a vendor's `X-RateLimit-*` headers say about its window (seed `004`:
//! every Scrapely response carries them). `store::ratelimit` keeps what they
//! said for every process and paces the calls by it; [`WindowNotes`] decides
//! which answers are worth writing there.

pub use crate::http_client::RateHeaders;
use std::sync::Mutex;

/// How an answer's window is recorded for the other processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Note {
    /// Nothing new for anyone: the record already says what pacing needs.
    Skip,
    /// Worth recording, off the action's path (it only refines the spacing).
    Background,
    /// Recorded before the next call: the window is spent or nearly so.
    Now,
}

/// What this process last recorded of the vendor's window, so an answer that
/// changes nothing the pacing reads costs no write. At 200 calls/s a write per
/// answer was a commit per call, all on one row (`rate_limit_vendor`'s bucket),
/// which PostgreSQL serializes: that row lock, not the calls, set the ceiling.
///
/// Recorded: the first answer (everyone then stops probing one call at a time),
/// a changed `X-RateLimit-Limit`, every answer while few calls remain (under a
/// quarter of the limit — [`crate::store::ratelimit::pace`] spreads them), and
/// the answer that ends such a stretch (so a stale "few left" does not keep
/// spacing calls until its reset). Plenty left is what no record also means.
#[derive(Debug, Default)]
pub struct WindowNotes(Mutex<Recorded>);

#[derive(Debug, Default, Clone, Copy)]
struct Recorded {
    heard: bool,
    limit: Option<u32>,
    few_left: bool,
}

impl WindowNotes {
    /// Decides how to record an answer (`answered`: the vendor answered at all;
    /// `spent`: it said the window is spent), `configured` the limit used until
    /// the vendor states one.
    pub fn decide(&self, rate: RateHeaders, answered: bool, spent: bool, configured: u32) -> Note {
        let mut last = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if !answered {
            return if spent { Note::Now } else { Note::Skip };
        }
        let limit = rate.limit.or(last.limit).unwrap_or(configured);
        let few_left = rate
            .remaining
            .is_some_and(|r| u64::from(r) * 4 <= u64::from(limit));
        let news = !last.heard
            || rate.limit.is_some_and(|l| last.limit != Some(l))
            || few_left
            || last.few_left;
        *last = Recorded {
            heard: true,
            limit: rate.limit.or(last.limit),
            few_left,
        };
        match (spent || few_left, news) {
            (true, _) => Note::Now,
            (false, true) => Note::Background,
            (false, false) => Note::Skip,
        }
    }

    /// A record failed to be written: the next answer is written again in full.
    pub fn forget(&self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Recorded::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderMap;

    fn said(limit: u32, remaining: u32) -> RateHeaders {
        RateHeaders {
            limit: Some(limit),
            remaining: Some(remaining),
            reset_ms: Some(1_000_000),
        }
    }

    #[test]
    fn only_answers_that_change_the_pacing_are_recorded() {
        let notes = WindowNotes::default();
        assert_eq!(
            notes.decide(said(1000, 999), true, false, 60),
            Note::Background
        );
        assert_eq!(notes.decide(said(1000, 998), true, false, 60), Note::Skip);
        assert_eq!(
            notes.decide(said(500, 400), true, false, 60),
            Note::Background
        );
        assert_eq!(notes.decide(said(500, 125), true, false, 60), Note::Now);
        assert_eq!(notes.decide(said(500, 124), true, false, 60), Note::Now);
        // The stretch of few left ends: written once, then nothing.
        assert_eq!(
            notes.decide(said(500, 499), true, false, 60),
            Note::Background
        );
        assert_eq!(notes.decide(said(500, 498), true, false, 60), Note::Skip);
        assert_eq!(notes.decide(said(500, 300), true, true, 60), Note::Now);
        assert_eq!(
            notes.decide(RateHeaders::default(), false, false, 60),
            Note::Skip
        );
        notes.forget();
        assert_eq!(
            notes.decide(said(500, 497), true, false, 60),
            Note::Background
        );
    }

    #[test]
    fn without_a_stated_limit_few_left_is_judged_by_the_configured_one() {
        let notes = WindowNotes::default();
        let rate = RateHeaders {
            remaining: Some(10),
            ..RateHeaders::default()
        };
        assert_eq!(notes.decide(rate, true, false, 60), Note::Now);
        assert_eq!(notes.decide(rate, true, false, 20), Note::Background);
    }

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
