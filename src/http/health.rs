//! `GET /healthz`: the process is alive. `GET /readyz`: it can do its job — the
//! database answers — else 503 with the reason; it also shows the rules' status
//! how many actions wait or need a person, and each stream's state (this
//! process's view: connected since, last message, counts, last error).

use crate::rules::reload::RulesHandle;
use crate::store::Store;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "alive" }))
}

/// What readiness looks at.
#[derive(Clone)]
pub struct Ready {
    pub store: Store,
    /// Whether the writer can commit (it stops trying while the database is down).
    pub database: crate::store::availability::Availability,
    pub rules: RulesHandle,
    pub streams: crate::sources::Streams,
}

/// 503 when the database does not answer. Rules are reported (loaded set, and the
/// errors of a broken edit that was refused) but never make Starling unready: the
/// last good set keeps running.
pub async fn readyz(State(ready): State<Ready>) -> (StatusCode, Json<Value>) {
    let rules = serde_json::to_value(ready.rules.status()).unwrap_or_default();
    // Reported, never a reason to be unready: webhooks still work without streams.
    let streams = json!(ready.streams.snapshots());
    if let Some((for_how_long, error)) = ready.database.down_since() {
        let reason = format!(
            "database: cannot take commits for {:.1} s (webhooks are answered 503): {error}",
            for_how_long.as_secs_f64()
        );
        return not_ready(reason, rules);
    }
    match tokio::time::timeout(Duration::from_secs(2), ready.store.ping()).await {
        Ok(Ok(())) => {
            let actions = crate::store::actions::open_counts(&ready.store)
                .await
                .map(|counts| json!(counts))
                .unwrap_or_else(|e| json!({ "error": e.to_string() }));
            (
                StatusCode::OK,
                Json(
                    json!({ "status": "ready", "checks": { "database": "ok", "rules": rules, "actions": actions, "streams": streams } }),
                ),
            )
        }
        Ok(Err(error)) => {
            tracing::warn!(%error, "Readiness check failed: database");
            not_ready(format!("database: {error}"), rules)
        }
        Err(_) => not_ready("database: no answer within 2 s".into(), rules),
    }
}

fn not_ready(reason: String, rules: Value) -> (StatusCode, Json<Value>) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "status": "unavailable", "checks": { "database": reason, "rules": rules } })),
    )
}
