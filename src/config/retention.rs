//! `[retention]`: how long events and attempts are kept, and how the pruner
//! deletes them (`starling serve` in the background, `starling prune` at once).
//!
//! Keys (env `STARLING__RETENTION__…`):
//! - `events_days` — an event last seen longer ago than this goes, with its
//!   sightings, rule matches, actions and their attempts, once every action of
//!   it is done (README "Retention and backup"); quarantined payloads last seen
//!   longer ago go too, and the job queue's jobs finished longer ago. 0 or
//!   unset: kept forever (the default);
//! - `attempts_days` — the attempts of a done action older than this go (the
//!   action row stays); 0 or unset: kept forever (the default);
//! - `batch_size` — events (or attempts, or quarantined payloads) deleted per
//!   transaction: small, so the writer never waits long for SQLite's lock;
//! - `interval_secs` — how often `starling serve` runs a pass.

use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    /// Days an event (and a quarantined payload) is kept after it was last seen; `None`: forever.
    #[serde(default, deserialize_with = "days")]
    pub events_days: Option<u32>,
    /// Days the attempts of a done action are kept; `None`: forever.
    #[serde(default, deserialize_with = "days")]
    pub attempts_days: Option<u32>,
    /// Rows deleted per transaction.
    pub batch_size: u32,
    /// Seconds between two background passes.
    pub interval_secs: f64,
}

impl RetentionSettings {
    /// Whether anything is ever pruned.
    pub fn is_on(&self) -> bool {
        self.events_days.is_some() || self.attempts_days.is_some()
    }

    pub fn interval(&self) -> Duration {
        Duration::from_secs_f64(self.interval_secs)
    }

    pub(super) fn validate(&self) -> Result<(), super::ConfigError> {
        if self.batch_size == 0 || self.batch_size > MAX_BATCH {
            return Err(super::key_error(
                "retention.batch_size",
                &format!("expected 1 to {MAX_BATCH} rows per transaction"),
            ));
        }
        if !(self.interval_secs.is_finite() && self.interval_secs > 0.0) {
            return Err(super::key_error(
                "retention.interval_secs",
                "expected a positive number of seconds, e.g. 600",
            ));
        }
        Ok(())
    }
}

/// Largest batch: its ids are written into the statements, which on PostgreSQL
/// stay under `store::POSTGRES_STATEMENT_BYTES` (20 digits and a comma each).
pub const MAX_BATCH: u32 = 350;

/// `0`, an empty value or no value: off; otherwise a number of days.
fn days<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    // An environment variable arrives as a number (`try_parsing`) or, empty, as text.
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(u32),
        Text(String),
    }
    match Option::<Raw>::deserialize(d)? {
        None | Some(Raw::Number(0)) => Ok(None),
        Some(Raw::Number(n)) => Ok(Some(n)),
        Some(Raw::Text(text)) => match text.trim() {
            "" | "0" => Ok(None),
            other => other.parse().map(Some).map_err(|_| {
                serde::de::Error::custom(format!(
                    "`{other}` is not a number of days; expected e.g. 90, or 0 to keep forever"
                ))
            }),
        },
    }
}
