//! `GET /metrics`: Prometheus text. The recorder is process-wide and installed
//! once; every part of Starling records through the `metrics` macros.
//!
//! | metric | labels | meaning |
//! |---|---|---|
//! | `starling_webhook_requests_total` | `source`, `outcome` | webhook answers: `created`, `duplicate`, `unauthorized`, `too_large`, `invalid_json`, `invalid_payload`, `unavailable` |
//! | `starling_group_commits_total` | | transactions committed by the writer |
//! | `starling_group_commit_items` | | items per committed group (summary) |
//! | `starling_group_commit_seconds` | | time to commit a group (summary) |
//! | `starling_rule_matches_total` | `outcome` | `fired`, `cooldown`, `error` |
//! | `starling_rules_reloads_total` | `result` | `ok`, `error` |
//! | `starling_rules_loaded` | | rules in the running set (gauge) |

use axum::http::header;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// The process-wide recorder, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .install_recorder()
            .expect("no other metrics recorder is installed")
    })
}

pub async fn metrics() -> impl IntoResponse {
    let handle = handle();
    handle.run_upkeep();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
}
