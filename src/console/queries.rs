//! The console's reads: Starling's own fixed SQL on the store's pool, values a
//! person typed quoted, ids parsed as numbers, every list bounded and paged by
//! key (`id < before`), so a page costs the same with a million events.

use crate::cli::jobs::{quote, ts};
use crate::store::Store;
use crate::store::audit::{self, Table};
use crate::store::status::ActionStatus;
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

/// How far back the overview counts the statuses nobody needs to act on.
pub const DONE_WITHIN_MS: i64 = 24 * 3_600_000;

/// Whether the overview counts `status` over the last [`DONE_WITHIN_MS`] only
/// (by `run_at`, along `actions_status (status, run_at)`): these are most of
/// the table, and counting all of them would cost a scan of it. Statuses a
/// person may act on (open, dead, held, outcome unknown) are counted whatever
/// their age: few, and the reason to open the overview.
fn counted_recently(status: ActionStatus) -> bool {
    status.may_be_pruned() && status != ActionStatus::Dead
}

/// Actions by status, every status of the lifecycle present (zero or not), and
/// whether the count is of the last 24 hours only.
pub async fn actions_by_status(store: &Store) -> anyhow::Result<Vec<(String, i64, bool)>> {
    let list = |recent: bool| {
        let names: Vec<String> = ActionStatus::ALL
            .into_iter()
            .filter(|s| counted_recently(*s) == recent)
            .map(|s| quote(s.as_str()))
            .collect();
        names.join(", ")
    };
    let since = crate::store::action_rows::now_ms() - DONE_WITHIN_MS;
    let counted = rows(
        store,
        &format!(
            "SELECT status, count(*) AS n FROM actions WHERE status IN ({open}) GROUP BY status \
             UNION ALL SELECT status, count(*) AS n FROM actions \
             WHERE status IN ({done}) AND run_at >= {since} GROUP BY status",
            open = list(false),
            done = list(true),
        ),
    )
    .await?;
    Ok(ActionStatus::ALL
        .iter()
        .map(|s| {
            let n = counted
                .iter()
                .find(|r| r["status"] == s.as_str())
                .and_then(|r| r["n"].as_i64())
                .unwrap_or(0);
            (s.as_str().to_string(), n, counted_recently(*s))
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

impl EventFilter {
    /// Whether a page of this list examines at most [`window`] events: text and
    /// source have no index, and two indexed filters together may have to walk
    /// one index a long way for the other. A lone kind or intent pages by its
    /// index (`(kind, id)`, `(intent, id)`), whatever the table's size.
    fn windowed(&self) -> bool {
        let indexed = [&self.kind, &self.intent]
            .iter()
            .filter(|v| !v.is_empty())
            .count();
        !self.q.is_empty() || !self.source.is_empty() || indexed > 1
    }
}

/// Rows a windowed list examines per page (newest first, by id), so a search
/// over a million events costs what it costs over this many: a text match
/// costs about 1 µs a row on SQLite and 6–15 µs on PostgreSQL (its `payload` is
/// JSONB, converted to text for each row). A trigram index instead (pg_trgm
/// GIN on the payload) made each stored event about 0.5 ms dearer to write
/// (benches/README.md, "Console page speed").
pub fn window(store: &Store) -> i64 {
    match store {
        Store::Sqlite(_) => 10_000,
        Store::Postgres(_) => 3_000,
    }
}

/// A list page: its rows and, when the list was windowed, the ids it examined.
#[derive(Debug, Default)]
pub struct Listed {
    pub rows: Rows,
    pub searched: Option<Searched>,
}

/// The ids a windowed page examined: `from` ..= `to`.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Searched {
    pub from: i64,
    pub to: i64,
}

impl Listed {
    /// Where the next page starts (`before`): after the last row of a full
    /// page, or below the window when it found less than a page.
    pub fn next_before(&self) -> Option<i64> {
        if self.rows.len() as i64 >= PAGE {
            return self.rows.last()?.get("id")?.as_i64();
        }
        self.searched.filter(|s| s.from > 1).map(|s| s.from)
    }
}

/// The `WHERE` of a keyset page of `table`: `conditions`, below `before`, and,
/// when `windowed`, within the [`window`] of ids below it.
async fn keyset(
    store: &Store,
    table: &str,
    mut conditions: Vec<String>,
    before: Option<i64>,
    windowed: bool,
) -> anyhow::Result<(String, Option<Searched>)> {
    let searched = match windowed {
        false => None,
        true => {
            let top = match before {
                Some(before) => before - 1,
                None => newest(store, table).await?,
            };
            Some(Searched {
                from: (top - window(store) + 1).max(1),
                to: top,
            })
        }
    };
    if let Some(s) = searched {
        conditions.push(format!("id BETWEEN {} AND {}", s.from, s.to));
    } else if let Some(before) = before {
        conditions.push(format!("id < {before}"));
    }
    let filter = match conditions.is_empty() {
        true => String::new(),
        false => format!("WHERE {}", conditions.join(" AND ")),
    };
    Ok((filter, searched))
}

async fn newest(store: &Store, table: &str) -> anyhow::Result<i64> {
    let found = rows(store, &format!("SELECT max(id) AS id FROM {table}")).await?;
    Ok(found.first().and_then(|r| r["id"].as_i64()).unwrap_or(0))
}

pub async fn events(store: &Store, filter: &EventFilter) -> anyhow::Result<Listed> {
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
    let (filter, searched) = keyset(
        store,
        "events",
        conditions,
        filter.before,
        filter.windowed(),
    )
    .await?;
    let rows = rows(
        store,
        &format!(
            "SELECT id, kind, source, dedupe_key, received_at, sightings, channels, intent \
             FROM events {filter} ORDER BY id DESC LIMIT {PAGE}"
        ),
    )
    .await?;
    Ok(Listed { rows, searched })
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
    // The three reads are independent: on the pool's connections at once.
    let sightings = format!(
        "SELECT stream, channel, received_at, quality FROM event_sightings \
         WHERE event_id = {id} ORDER BY id"
    );
    let matches = format!(
        "SELECT rule, outcome, matched_at, error, actions FROM rule_matches \
         WHERE event_id = {id} ORDER BY id"
    );
    let actions = format!(
        "SELECT id, kind, rule, status, attempts, account, last_error FROM actions \
         WHERE event_id = {id} ORDER BY id"
    );
    let (sightings, matches, actions) = tokio::try_join!(
        rows(store, &sightings),
        rows(store, &matches),
        rows(store, &actions)
    )?;
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

impl ActionFilter {
    /// Status and rule together are windowed (see [`EventFilter::windowed`]);
    /// either alone pages by its index (`(status, id)`, `(rule, id)`).
    fn windowed(&self) -> bool {
        !self.status.is_empty() && !self.rule.is_empty()
    }
}

pub async fn actions(store: &Store, filter: &ActionFilter) -> anyhow::Result<Listed> {
    let mut conditions = Vec::new();
    if !filter.status.is_empty() {
        conditions.push(format!("status = {}", quote(&filter.status)));
    }
    if !filter.rule.is_empty() {
        conditions.push(format!("rule = {}", quote(&filter.rule)));
    }
    let (filter, searched) = keyset(
        store,
        "actions",
        conditions,
        filter.before,
        filter.windowed(),
    )
    .await?;
    let url = url_of(store);
    let rows = rows(
        store,
        &format!(
            "SELECT id, status, kind, rule, event_id, account, attempts, {run_at} AS run_at, last_error \
             FROM actions {filter} ORDER BY id DESC LIMIT {PAGE}",
            run_at = ts(url, "run_at")
        ),
    )
    .await?;
    Ok(Listed { rows, searched })
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
