//! The console's reads: Starling's own fixed SQL on the store's pool, values a
//! person typed quoted, ids parsed as numbers, every list bounded and paged by
//! key (`id < before`), so a page costs the same with a million events.

use crate::cli::jobs::{quote, ts};
use crate::store::Store;
use crate::store::audit::{self, Table};
use serde_json::Value;

/// Rows per list page.
pub const PAGE: i64 = 50;

pub type Rows = Vec<Value>;

async fn rows(store: &Store, sql: &str) -> anyhow::Result<Rows> {
    Ok(objects(&audit::query_store(store, sql).await?))
}

fn objects(table: &Table) -> Rows {
    crate::cli::audit::json_rows(table)
}

fn url_of(store: &Store) -> &'static str {
    // `ts` only looks at the scheme.
    match store {
        Store::Sqlite(_) => "sqlite:",
        Store::Postgres(_) => "postgres:",
    }
}

/// Actions by status, every status of the lifecycle present (zero or not).
pub async fn actions_by_status(store: &Store) -> anyhow::Result<Vec<(String, i64)>> {
    let counted = rows(
        store,
        "SELECT status, count(*) AS n FROM actions GROUP BY status",
    )
    .await?;
    Ok(crate::store::status::ActionStatus::ALL
        .iter()
        .map(|s| {
            let n = counted
                .iter()
                .find(|r| r["status"] == s.as_str())
                .and_then(|r| r["n"].as_i64())
                .unwrap_or(0);
            (s.as_str().to_string(), n)
        })
        .collect())
}

pub async fn streams(store: &Store) -> anyhow::Result<Rows> {
    rows(store, &crate::cli::streams::streams_sql(url_of(store))).await
}

/// What the events list is filtered by.
#[derive(Debug, Default, Clone, serde::Deserialize, serde::Serialize)]
pub struct EventFilter {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub intent: String,
    #[serde(default)]
    pub q: String,
    pub before: Option<i64>,
}

pub async fn events(store: &Store, filter: &EventFilter) -> anyhow::Result<Rows> {
    let mut conditions = Vec::new();
    for (column, value) in [
        ("kind", &filter.kind),
        ("source", &filter.source),
        ("intent", &filter.intent),
    ] {
        if !value.is_empty() {
            conditions.push(format!("{column} = {}", quote(value)));
        }
    }
    if !filter.q.is_empty() {
        let pattern = quote(&format!("%{}%", filter.q.replace(['%', '_'], "")));
        conditions.push(match store {
            Store::Sqlite(_) => format!("payload LIKE {pattern}"),
            Store::Postgres(_) => format!("payload::text ILIKE {pattern}"),
        });
    }
    if let Some(before) = filter.before {
        conditions.push(format!("id < {before}"));
    }
    let filter = match conditions.is_empty() {
        true => String::new(),
        false => format!("WHERE {}", conditions.join(" AND ")),
    };
    rows(
        store,
        &format!(
            "SELECT id, kind, source, dedupe_key, received_at, sightings, channels, intent \
             FROM events {filter} ORDER BY id DESC LIMIT {PAGE}"
        ),
    )
    .await
}

/// One event with its sightings, its rules' decisions and its actions.
pub async fn event(store: &Store, id: i64) -> anyhow::Result<Option<Value>> {
    let Some(event) = rows(
        store,
        &format!(
            "SELECT id, kind, source, dedupe_key, vendor_ts, received_at, last_seen_at, sightings, \
             channels, intent, payload FROM events WHERE id = {id}"
        ),
    )
    .await?
    .pop() else {
        return Ok(None);
    };
    let sightings = rows(
        store,
        &format!(
            "SELECT stream, channel, received_at, quality FROM event_sightings \
             WHERE event_id = {id} ORDER BY id"
        ),
    )
    .await?;
    let matches = rows(
        store,
        &format!(
            "SELECT rule, outcome, matched_at, error, actions FROM rule_matches \
             WHERE event_id = {id} ORDER BY id"
        ),
    )
    .await?;
    let actions = rows(
        store,
        &format!(
            "SELECT id, kind, rule, status, attempts, account, last_error FROM actions \
             WHERE event_id = {id} ORDER BY id"
        ),
    )
    .await?;
    Ok(Some(serde_json::json!({
        "event": event,
        "sightings": sightings,
        "matches": matches,
        "actions": actions,
    })))
}

/// What the actions list is filtered by.
#[derive(Debug, Default, Clone, serde::Deserialize, serde::Serialize)]
pub struct ActionFilter {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub rule: String,
    pub before: Option<i64>,
}

pub async fn actions(store: &Store, filter: &ActionFilter) -> anyhow::Result<Rows> {
    let mut conditions = Vec::new();
    if !filter.status.is_empty() {
        conditions.push(format!("status = {}", quote(&filter.status)));
    }
    if !filter.rule.is_empty() {
        conditions.push(format!("rule = {}", quote(&filter.rule)));
    }
    if let Some(before) = filter.before {
        conditions.push(format!("id < {before}"));
    }
    let filter = match conditions.is_empty() {
        true => String::new(),
        false => format!("WHERE {}", conditions.join(" AND ")),
    };
    let url = url_of(store);
    rows(
        store,
        &format!(
            "SELECT id, status, kind, rule, event_id, account, attempts, {run_at} AS run_at, last_error \
             FROM actions {filter} ORDER BY id DESC LIMIT {PAGE}",
            run_at = ts(url, "run_at")
        ),
    )
    .await
}

/// One action and every attempt (requests as stored: redacted when recorded).
pub async fn action(store: &Store, id: i64) -> anyhow::Result<Option<Value>> {
    let url = url_of(store);
    let Some(action) = rows(
        store,
        &format!(
            "SELECT id, status, kind, rule, event_id, account, attempts, max_attempts, series, \
             {run_at} AS run_at, last_error, params FROM actions WHERE id = {id}",
            run_at = ts(url, "run_at")
        ),
    )
    .await?
    .pop() else {
        return Ok(None);
    };
    let attempts = rows(store, &crate::cli::jobs::attempts_sql(url, id)).await?;
    Ok(Some(
        serde_json::json!({ "action": action, "attempts": attempts }),
    ))
}

pub async fn paused_accounts(store: &Store) -> anyhow::Result<Rows> {
    rows(store, &crate::cli::accounts::paused_sql(url_of(store))).await
}

/// Events stored after `id`, oldest first (the live tail), at most a page.
pub async fn events_after(store: &Store, id: i64) -> anyhow::Result<Rows> {
    rows(
        store,
        &format!(
            "SELECT id, kind, source, dedupe_key, received_at, sightings, channels, intent \
             FROM events WHERE id > {id} ORDER BY id LIMIT {PAGE}"
        ),
    )
    .await
}

/// A page of the quarantine, newest first, without the bodies (their size only).
pub async fn quarantine(store: &Store, before: Option<i64>) -> anyhow::Result<Rows> {
    let filter = before
        .map(|b| format!("WHERE id < {b}"))
        .unwrap_or_default();
    let mut rows = rows(
        store,
        &format!(
            "SELECT id, source, channel, received_at, sightings, length(body) AS bytes, reason, \
             replayed_at, event_id, replay_tried_at FROM quarantine {filter} \
             ORDER BY id DESC LIMIT {PAGE}"
        ),
    )
    .await?;
    for row in &mut rows {
        row["state"] = Value::from(crate::cli::quarantine::state_of(
            row["replayed_at"].as_str(),
            row["event_id"].as_i64(),
            row["replay_tried_at"].as_str(),
        ));
    }
    Ok(rows)
}
