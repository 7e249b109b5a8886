//! The families read when `/metrics` is scraped rather than recorded as things
//! happen: the actions by status and the newest vendor event from the database,
//! whether the database answered, and the process's own figures.
//!
//! **Why at scrape time, not every few seconds.** The scrape interval is already
//! the rate at which anyone looks, so a background refresh would only add a task,
//! a staleness window and a second schedule. The queries are index-only and take
//! a timeout, and a database that does not answer in time shows as
//! `starling_database_up 0` with the table families left out, never as stale
//! numbers. They are written here, per request, instead of into the process-wide
//! recorder, so two apps in one process (the tests) or two replicas each report
//! their own database's table, never each other's.

use super::text::{header, sample};
use crate::store::Store;
use std::time::Duration;

/// How long a scrape waits for the database before reporting it down.
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// Appends the collected families to `out` (the recorder's text).
pub async fn render(store: &Store, out: &mut String) {
    let queries = async {
        let counts = crate::store::gauges::actions_by_status(store).await?;
        let newest = crate::store::gauges::newest_vendor_event(store).await?;
        Ok::<_, sqlx::Error>((counts, newest))
    };
    let answered = match tokio::time::timeout(QUERY_TIMEOUT, queries).await {
        Ok(Ok(answer)) => Some(answer),
        Ok(Err(error)) => {
            tracing::warn!(%error, "Metrics: the database did not answer the scrape's queries");
            None
        }
        Err(_) => {
            tracing::warn!(
                timeout_s = QUERY_TIMEOUT.as_secs(),
                "Metrics: the database did not answer the scrape's queries in time"
            );
            None
        }
    };
    header(
        out,
        "starling_database_up",
        "gauge",
        "1 when the database answered this scrape's queries, else 0.",
    );
    sample(
        out,
        "starling_database_up",
        "",
        f64::from(u8::from(answered.is_some())),
    );
    if let Some((counts, newest)) = answered {
        header(
            out,
            "starling_actions",
            "gauge",
            "Actions in the table by status, counted at this scrape (the same on every replica).",
        );
        for (status, count) in counts {
            sample(
                out,
                "starling_actions",
                &format!("status=\"{status}\""),
                count as f64,
            );
        }
        if let Some(at) = newest {
            header(
                out,
                "starling_last_event_timestamp_seconds",
                "gauge",
                "When the newest event from a vendor was received (Unix seconds); absent before the first.",
            );
            sample(out, "starling_last_event_timestamp_seconds", "", at);
        }
    }
    super::process::render(out);
}
