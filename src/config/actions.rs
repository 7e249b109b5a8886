//! `[actions]` (the apalis queue: workers, timeouts, dry run, retry backoff) and
//! `[outreach]` (the contact window every rule, replica and restart shares).

use serde::Deserialize;

/// The action queue: apalis workers, timeouts and retries.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionsSettings {
    /// apalis workers in this process (each with a unique name).
    pub workers: usize,
    /// Actions in flight per worker.
    pub concurrency: usize,
    /// Safety-net polling; commits in this process wake the workers at once.
    pub poll_interval_ms: u64,
    /// Worker heartbeat; a worker silent for 3 heartbeats has its jobs taken over.
    pub heartbeat_secs: u64,
    /// Timeout of one outbound call.
    pub timeout_secs: f64,
    /// Render and record every action, send nothing (`starling serve --dry-run`).
    pub dry_run: bool,
    pub retry: RetrySettings,
}

/// Exponential backoff with full jitter: attempt n waits a random time in
/// `[0, min(cap, base × factor^(n-1))]`, or longer if the vendor asks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySettings {
    pub base_ms: u64,
    pub factor: f64,
    pub cap_secs: u64,
    pub max_attempts: u32,
}

/// Outreach safety across every rule, replica and restart (the contact ledger).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutreachSettings {
    /// At most one DM per person per this window (`30d`, `12h`); `0` or `off`
    /// turns the window off (do-not-contact still holds).
    pub contact_window: ContactWindow,
}

/// A duration, or off: `outreach.contact_window`, `alerts.stream_down_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContactWindow(pub Option<std::time::Duration>);

impl ContactWindow {
    /// Parses `30d`, `2s`, `0`, `off`; `Err` says what was expected.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if matches!(text, "0" | "off" | "none") {
            return Ok(ContactWindow(None));
        }
        match humantime::parse_duration(text) {
            Ok(d) if d.is_zero() => Ok(ContactWindow(None)),
            Ok(d) => Ok(ContactWindow(Some(d))),
            Err(_) => Err(format!(
                "`{text}` is not a duration; expected e.g. 30d, 12h, or 0 / off to turn it off"
            )),
        }
    }

    /// The window in milliseconds, when on.
    pub fn millis(self) -> Option<i64> {
        self.0.map(|d| d.as_millis() as i64)
    }
}

impl<'de> Deserialize<'de> for ContactWindow {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // An environment variable `0` arrives as a number (`try_parsing`).
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(0) => Ok(ContactWindow(None)),
            Raw::Number(secs) => Ok(ContactWindow(Some(std::time::Duration::from_secs(secs)))),
            Raw::Text(text) => ContactWindow::parse(&text).map_err(serde::de::Error::custom),
        }
    }
}

/// `[alerts]`: when failures become internal events (`crate::event::internal`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsSettings {
    /// A stream disconnected this long raises `starling.stream_down` (`2m`,
    /// `30s`); `0` or `off` never raises it.
    pub stream_down_after: ContactWindow,
}
