//! `GET /healthz`: the process is alive. `GET /readyz`: it can do its job — the
//! database answers — else 503 with the reason.

use crate::store::Store;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "alive" }))
}

pub async fn readyz(State(store): State<Store>) -> (StatusCode, Json<Value>) {
    match tokio::time::timeout(Duration::from_secs(2), store.ping()).await {
        Ok(Ok(())) => (
            StatusCode::OK,
            Json(json!({ "status": "ready", "checks": { "database": "ok" } })),
        ),
        Ok(Err(error)) => {
            tracing::warn!(%error, "Readiness check failed: database");
            not_ready(format!("database: {error}"))
        }
        Err(_) => not_ready("database: no answer within 2 s".into()),
    }
}

fn not_ready(reason: String) -> (StatusCode, Json<Value>) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "status": "unavailable", "checks": { "database": reason } })),
    )
}
