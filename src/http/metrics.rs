//! `GET /metrics`: Prometheus text, in two parts.
//!
//! - **Recorded** families: counters, gauges and histograms this process bumps
//!   through the `metrics` macros, in one process-wide recorder installed once.
//!   [`register`] describes every family (`# HELP`) and registers every series
//!   whose labels are known in advance at zero, so a rate or an alert works from
//!   the first scrape instead of after the first failure. Latencies and sizes are
//!   histograms with fixed buckets, not summaries: buckets add up across
//!   replicas, quantiles do not.
//! - **Collected** families ([`collected`]), read when `/metrics` is scraped: the
//!   actions by status and the newest vendor event from the database (so every
//!   replica reports the table, not what it alone did), and the process's memory,
//!   CPU, file descriptors and start time from `/proc` ([`process`]).
//!
//! | metric | type | labels | meaning |
//! |---|---|---|---|
//! | `starling_build_info` | gauge | `version` | 1 |
//! | `starling_webhook_requests_total` | counter | `source`, `outcome` | webhook answers (`webhooks::OUTCOMES`) |
//! | `starling_group_commits_total` | counter | | transactions committed by the writer |
//! | `starling_group_commit_items` | histogram | | items per committed group |
//! | `starling_group_commit_seconds` | histogram | | time to commit a group |
//! | `starling_database_outages_total` | counter | | times the writer found the database gone |
//! | `starling_rule_matches_total` | counter | `outcome` | `fired`, `cooldown`, `error` |
//! | `starling_rules_reloads_total` | counter | `result` | `ok`, `error` |
//! | `starling_rules_loaded` | gauge | | rules in the running set |
//! | `starling_action_attempts_total` | counter | `kind`, `outcome` | attempts by how they ended |
//! | `starling_action_call_seconds` | histogram | `kind` | one outbound call |
//! | `starling_action_call_errors_total` | counter | `kind`, `error_class` | failed calls; `rate_limited` is a 429 |
//! | `starling_actions_skipped_total` | counter | `kind` | actions not sent on purpose |
//! | `starling_dm_refused_total` | counter | `reason` | DMs the contact ledger refused |
//! | `starling_stream_messages_total` | counter | `stream` | messages received |
//! | `starling_stream_reconnects_total` | counter | `stream` | reconnections |
//! | `starling_stream_connected` | gauge | `stream` | 1 while this process holds it connected |
//! | `starling_actions` | gauge | `status` | actions in the table, every status (collected) |
//! | `starling_last_event_timestamp_seconds` | gauge | | newest vendor event (collected) |
//! | `starling_database_up` | gauge | | 1 when the scrape's queries answered (collected) |
//! | `process_*` | | | resident and virtual memory, CPU seconds, open and max fds, start time (collected, Linux) |

mod collected;
mod process;
mod text;

use crate::catalog::ActionKind;
use crate::config::Settings;
use crate::http::health::Ready;
use crate::store::status::{AttemptOutcome, ErrorClass};
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use metrics::Label;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// Seconds: from a fast-path call on loopback (~1 ms) to a slow vendor at its
/// timeout (`actions.timeout_secs`, 30 s by default).
const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Items per group commit, up to `database.group_commit_max`'s default (512).
const ITEMS_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Counter,
    Gauge,
    Histogram,
}

/// A family this process records, and its `# HELP`.
struct Family {
    name: &'static str,
    kind: Type,
    help: &'static str,
}

const fn family(name: &'static str, kind: Type, help: &'static str) -> Family {
    Family { name, kind, help }
}

const RECORDED: &[Family] = &[
    family(
        "starling_build_info",
        Type::Gauge,
        "Always 1; the version label says which Starling runs.",
    ),
    family(
        "starling_webhook_requests_total",
        Type::Counter,
        "Webhook requests answered, by vendor and outcome.",
    ),
    family(
        "starling_group_commits_total",
        Type::Counter,
        "Transactions committed by the group-commit writer.",
    ),
    family(
        "starling_group_commit_items",
        Type::Histogram,
        "Items (events, finishes) per committed group.",
    ),
    family(
        "starling_group_commit_seconds",
        Type::Histogram,
        "Time to commit one group, in seconds.",
    ),
    family(
        "starling_database_outages_total",
        Type::Counter,
        "Times the writer found the database unable to commit.",
    ),
    family(
        "starling_rule_matches_total",
        Type::Counter,
        "Rule decisions on stored events: fired, held by a cooldown, or failed to evaluate.",
    ),
    family(
        "starling_rules_reloads_total",
        Type::Counter,
        "Rule directory reloads, by result.",
    ),
    family(
        "starling_rules_loaded",
        Type::Gauge,
        "Rules in the running set.",
    ),
    family(
        "starling_action_attempts_total",
        Type::Counter,
        "Action attempts, by kind and how the attempt ended.",
    ),
    family(
        "starling_action_call_seconds",
        Type::Histogram,
        "Duration of one outbound action call, in seconds.",
    ),
    family(
        "starling_action_call_errors_total",
        Type::Counter,
        "Outbound action calls that failed, by kind and error class (rate_limited is an HTTP 429).",
    ),
    family(
        "starling_actions_skipped_total",
        Type::Counter,
        "Actions not sent on purpose (no key, no conversation, contact window, ...), by kind.",
    ),
    family(
        "starling_dm_refused_total",
        Type::Counter,
        "DMs the contact ledger refused, by reason.",
    ),
    family(
        "starling_stream_messages_total",
        Type::Counter,
        "Messages received on a tweet stream.",
    ),
    family(
        "starling_stream_reconnects_total",
        Type::Counter,
        "Reconnections of a tweet stream.",
    ),
    family(
        "starling_stream_connected",
        Type::Gauge,
        "1 while this process holds the stream connected, else 0.",
    ),
];

/// The process-wide recorder, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("starling_group_commit_items".into()),
                    ITEMS_BUCKETS,
                )
            })
            .expect("the bucket lists are not empty")
            .install_recorder()
            .expect("no other metrics recorder is installed")
    })
}

/// Installs the recorder, describes every recorded family and registers every
/// series whose labels are known from the code's closed sets and `settings`.
/// Idempotent: registering a series again keeps its value.
pub fn register(settings: &Settings) {
    handle();
    for f in RECORDED {
        let (name, help) = (f.name, f.help);
        match f.kind {
            Type::Counter => metrics::describe_counter!(name, help),
            Type::Gauge => metrics::describe_gauge!(name, help),
            Type::Histogram => metrics::describe_histogram!(name, help),
        }
    }
    metrics::gauge!("starling_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    for (name, labels) in known_series(settings) {
        let kind = RECORDED
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.kind)
            .expect("every known series belongs to a recorded family");
        match kind {
            Type::Counter => drop(metrics::counter!(name, labels)),
            Type::Gauge => drop(metrics::gauge!(name, labels)),
            Type::Histogram => drop(metrics::histogram!(name, labels)),
        }
    }
}

fn labels(pairs: &[(&'static str, &str)]) -> Vec<Label> {
    pairs
        .iter()
        .map(|(k, v)| Label::new(*k, v.to_string()))
        .collect()
}

/// Every series known before anything happens: the vendors, outcomes, kinds and
/// error classes are closed sets; the streams are the configured ones.
fn known_series(settings: &Settings) -> Vec<(&'static str, Vec<Label>)> {
    let mut series: Vec<(&'static str, Vec<Label>)> = Vec::new();
    for name in [
        "starling_group_commits_total",
        "starling_group_commit_items",
        "starling_group_commit_seconds",
        "starling_database_outages_total",
        "starling_rules_loaded",
    ] {
        series.push((name, Vec::new()));
    }
    for source in crate::webhooks::sources() {
        for outcome in crate::webhooks::OUTCOMES {
            let l = labels(&[("source", source), ("outcome", outcome)]);
            series.push(("starling_webhook_requests_total", l));
        }
    }
    for outcome in crate::store::matches::OUTCOMES {
        series.push((
            "starling_rule_matches_total",
            labels(&[("outcome", outcome)]),
        ));
    }
    for result in ["ok", "error"] {
        series.push((
            "starling_rules_reloads_total",
            labels(&[("result", result)]),
        ));
    }
    for kind in ActionKind::ALL.map(ActionKind::as_str) {
        for outcome in AttemptOutcome::ALL.map(AttemptOutcome::as_str) {
            let l = labels(&[("kind", kind), ("outcome", outcome)]);
            series.push(("starling_action_attempts_total", l));
        }
        for class in ErrorClass::ALL.map(ErrorClass::as_str) {
            let l = labels(&[("kind", kind), ("error_class", class)]);
            series.push(("starling_action_call_errors_total", l));
        }
        series.push(("starling_action_call_seconds", labels(&[("kind", kind)])));
        series.push(("starling_actions_skipped_total", labels(&[("kind", kind)])));
    }
    for reason in crate::contacts::Refusal::ERROR_CLASSES {
        series.push(("starling_dm_refused_total", labels(&[("reason", reason)])));
    }
    for stream in &settings.streams {
        for name in [
            "starling_stream_messages_total",
            "starling_stream_reconnects_total",
            "starling_stream_connected",
        ] {
            series.push((name, labels(&[("stream", &stream.name)])));
        }
    }
    series
}

/// The recorder's families, then the ones read now (this app's database).
pub async fn metrics(State(ready): State<Ready>) -> impl IntoResponse {
    let handle = handle();
    handle.run_upkeep();
    let mut text = handle.render();
    collected::render(&ready.store, &mut text).await;
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::ApiError;

    /// A webhook answer's code that is not registered would appear only after
    /// it first happens: every error a webhook can answer is in the list.
    #[test]
    fn every_webhook_error_code_is_a_registered_outcome() {
        let errors = [
            ApiError::unauthorized(""),
            ApiError::forbidden(""),
            ApiError::payload_too_large(1),
            ApiError::body_timeout(std::time::Duration::from_secs(1)),
            ApiError::not_json(""),
            ApiError::invalid_payload(""),
            ApiError::unavailable(),
        ];
        for e in errors {
            assert!(crate::webhooks::OUTCOMES.contains(&e.error), "{}", e.error);
        }
    }

    #[test]
    fn every_known_series_belongs_to_a_described_family() {
        let settings = Settings::load_with_env(None, Some(Default::default())).unwrap();
        let series = known_series(&settings);
        for (name, _) in &series {
            assert!(RECORDED.iter().any(|f| f.name == *name), "{name}");
        }
        // Kinds × outcomes, kinds × error classes: the closed sets are all there.
        let attempts = series
            .iter()
            .filter(|(n, _)| *n == "starling_action_attempts_total")
            .count();
        assert_eq!(attempts, ActionKind::ALL.len() * AttemptOutcome::ALL.len());
    }
}
